"""A cold start pays only for what the handler needs at once (issue 19).

Each function's handler is imported in a fresh process, as a new Lambda execution environment
does. The modules listed for it below are loaded later, by the code that uses them: each is
heavy (tens to hundreds of ms, or a model) and most invocations never need it. The test fails
when an import at module level pulls one of them into the cold start.

The lists are the written record of what each function loads late. A new function adds its own
list. Related checks: `tests/unit/lms/test_api_contract.py` (what the API loads while serving
requests that do not need it), `tests/unit/ai/test_embeddings.py` (no model at import, none to
count tokens).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack import template as tpl

ROOT = Path(__file__).resolve().parents[3]

# Modules a function loads where it first needs them, never at import. A name covers its submodules.
KAFKA = {"kafka": "Kafka client: the relay's producer, the dead-letter sink (first send)"}
AWS_SDK = {"boto3": "not used: smartcourse.aws makes botocore's clients",
           "botocore.session": "AWS SDK: an S3 / SES / SNS / Secrets Manager client (first use)",
           "botocore.client": "AWS SDK clients (Powertools imports only the botocore package)"}
AI = {
    "onnxruntime": "the embedding model (first embedding)",
    "tokenizers": "the embedding tokenizer (first embedding or token count)",
    "groq": "not used: Groq is called over http.client (docs/decisions/0007-groq-over-http.md)",
    "langchain_groq": "not used: Groq is called over http.client (docs/decisions/0007-groq-over-http.md)",
    "smartcourse.assistant.groq_client": "Groq's chat endpoint (the service built with a Groq key)",
    "langchain_core": "LangChain: the text splitter (first section longer than a chunk)",
    "langchain_text_splitters": "chunking (first document ingested)",
}
PARSERS = {
    "pypdf": "PDF text (first PDF ingested)",
    "docx": "Word documents (first .docx ingested)",
    "pptx": "PowerPoint (first .pptx ingested)",
    "bs4": "HTML (first HTML page ingested)",
    "lxml": "XML / HTML parsing (first document that needs it)",
    "webvtt": "subtitles (first .vtt ingested)",
}
PDF_RENDERING = {
    "fpdf": "certificate PDF rendering (first certificate rendered)",
    "uharfbuzz": "text shaping for certificate names (first certificate rendered)",
    "segno": "the certificate's QR code (first certificate rendered)",
}
PASSWORDS = {"argon2": "password hashing (sign-up, sign-in, password change)"}
TOKENS = {"jwt": "JWT access tokens and cryptography (first request with a token)"}
#: Not used: importing one of Powertools' event classes loads all of them (about 25 ms); the MSK
#: consumers read their events with smartcourse.msk.
EVENT_CLASSES = {"aws_lambda_powertools.utilities.data_classes": "not used: MSK events are read by smartcourse.msk"}

LAZY: dict[str, dict[str, str]] = {
    "ApiFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **TOKENS, **KAFKA, **AI, **PARSERS, **PDF_RENDERING,
                    "numpy": "not used by the API",
                    "smartcourse.assistant.schemas": "the assistant's API models (first /openapi.json)",
                    "smartcourse.analytics.schemas": "the reporting API's models (first /openapi.json)"},
    "AssistantFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **KAFKA, **AI, **PARSERS, **PDF_RENDERING},
    "IngestFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **AI, **PARSERS, **PDF_RENDERING,
                       "numpy": "vectors (first embedding)"},
    "CertificatesFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **AI, **PARSERS, **PDF_RENDERING, **KAFKA},
    "NotificationsFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **AI, **PARSERS, **PDF_RENDERING, **KAFKA},
    "OutboxRelayFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **TOKENS, **KAFKA, **AI, **PARSERS,
                            **PDF_RENDERING, "numpy": "not used by the relay"},
    "AnalyticsFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **KAFKA, **AI, **PARSERS, **PDF_RENDERING,
                          "analytics_routes": "the reporting API (first HTTP request)",
                          "smartcourse.analytics.schemas": "the reporting API's models (first HTTP request)"},
    "LakeArchiveFunction": {**EVENT_CLASSES, **AWS_SDK, **PASSWORDS, **TOKENS, **KAFKA, **AI, **PARSERS,
                            **PDF_RENDERING, "duckdb": "Parquet writing and merging (first batch archived)"},
}

IMPORT = """
import json, sys
code_uri, module, names, layers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
sys.path[:0] = [code_uri, *layers]
__import__(module)
print(json.dumps(sorted(m for m in sys.modules for n in names if m == n or m.startswith(n + "."))))
"""


def _functions() -> dict[str, tpl.FunctionSpec]:
    return dict(tpl.load().functions)


def test_every_function_has_its_list_of_late_modules() -> None:
    assert set(_functions()) == set(LAZY), "add the new function's late-loaded modules to LAZY"


def _import_handler(function: str, script: str, *args: str) -> Any:
    """Run `script` (argv: code uri, handler module, `args`, layers) in a fresh process, as a new
    Lambda execution environment imports the handler; its last line of output, parsed as JSON."""
    spec = _functions()[function]
    module = spec.handler.rsplit(".", 1)[0]
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", script, str(spec.code_uri), module, *args,
                          *[str(p) for p in spec.layers]],
                         cwd=spec.code_uri, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", sorted(LAZY))
def test_the_handler_import_loads_none_of_the_modules_it_needs_later(function: str) -> None:
    loaded = _import_handler(function, IMPORT, json.dumps(sorted(LAZY[function])))
    assert loaded == [], f"{function}'s handler import loads {loaded}: import them where they are first used"


GC_AFTER_IMPORT = """
import gc, json, sys
code_uri, module, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:0] = [code_uri, *layers]
__import__(module)
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("function", sorted(LAZY))
def test_the_handler_import_runs_without_the_collector_and_freezes_what_it_made(function: str) -> None:
    # smartcourse.coldstart: imported first by every handler module, `loaded()` as its last statement.
    # After the import, collection is on again and the import's objects are in the permanent generation.
    state = _import_handler(function, GC_AFTER_IMPORT)
    assert state["enabled"], f"{function}: the handler import left the garbage collector off"
    assert state["frozen"] > 10_000, f"{function}: the handler module does not call coldstart.loaded() last"


def test_every_handler_module_imports_coldstart_first_and_calls_loaded_last() -> None:
    for spec in _functions().values():
        source = (spec.code_uri / (spec.handler.rsplit(".", 1)[0] + ".py")).read_text()
        imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))
                   and not line.startswith("from __future__")]
        assert imports[0].startswith("from smartcourse import coldstart"), (spec.logical_id, imports[0])
        statements = [line for line in source.splitlines() if line and not line.startswith((" ", "#", ")"))]
        assert statements[-1].startswith("coldstart.loaded()"), (spec.logical_id, statements[-1])
