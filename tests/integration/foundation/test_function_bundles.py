"""The pruned bundles as `sam build` makes them (functions/ingest/Makefile,
functions/assistant/Makefile): within their budget (issue 19: 230 MB with the SharedLayer, against
Lambda's 262,144,000 bytes unzipped), and still able to do their work with nothing but the bundle
and the layer on the path (what the pruning removed, such as onnxruntime's C API library, is
really unused): the ingestion extracts, chunks and embeds; the assistant embeds a question and
calls Groq through the product's client (a local fake server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BUDGET = 230_000_000
CHUNKED = """
from smartcourse.ai.chunking import chunk_document
chunks = chunk_document(extract(b"<html><body><main><h1>Long</h1><p>" + b"A sentence that goes on and on. " * 300
                                + b"</p></main></body></html>", "long.html", "text/html"))
assert len(chunks) > 3, len(chunks)
"""

#: Every script run in a bundle starts here: the function folder and the layer first on the path.
ON_BUNDLE_PATH = """
import sys
sys.path[:0] = [{function!r}, {layer!r}]
"""
#: ... and the pruned bundles' model runtime must come from the function folder.
ONNX_FROM_BUNDLE = ON_BUNDLE_PATH + """
import onnxruntime
assert onnxruntime.__file__.startswith({function!r}), onnxruntime.__file__
"""

SMOKE = ONNX_FROM_BUNDLE + """
from smartcourse.ai.extract import extract
from smartcourse.ai.embeddings import MiniLMEmbedder
page = extract(b"<html><body><main><h1>Bundles</h1><p>Parsed by lxml and BeautifulSoup.</p></main></body></html>",
               "page.html", "text/html")
assert "BeautifulSoup" in page.text, page.text
{chunked}
vectors = MiniLMEmbedder().embed_documents(["pgvector stores embeddings", "Kafka carries the events"])
assert len(vectors) == 2 and len(vectors[0]) == 384
print("ok", round(sum(x * x for x in vectors[0]), 3))
"""


def _in_bundle(bundle: Path, script: str, *, timeout: float = 300, env: dict[str, str] | None = None,
               **fields: str) -> subprocess.CompletedProcess[str]:
    """`script` (its {function} and {layer} filled in with the bundle's) in a fresh interpreter with
    `-S`: no site-packages of this virtualenv, only what Lambda would have."""
    code = script.format(function=str(bundle / "function"), layer=str(bundle / "layer" / "python"), **fields)
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=timeout,
                          cwd=bundle, env=env)


def _build(function: str, bundle: Path) -> None:
    """`make bundle-size` of functions/<function> into `bundle`, within BUDGET."""
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "functions" / function), "bundle-size",
                          f"PIP={Path(sys.executable).parent / 'pip'}", f"BUNDLE_DIR={bundle}",
                          f"BUDGET={BUDGET}"], capture_output=True, text=True, timeout=540)
    line = re.search(r"= (\d+) bytes \(budget", out.stdout)
    assert line is not None, out.stdout + out.stderr
    assert int(line.group(1)) <= BUDGET and out.returncode == 0, out.stdout + out.stderr


def test_the_ingest_bundle_fits_its_budget_and_embeds_on_its_own(tmp_path: Path) -> None:
    _build("ingest", tmp_path)
    assert not list((tmp_path / "function" / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    smoke = _in_bundle(tmp_path, SMOKE, chunked=CHUNKED)
    assert smoke.returncode == 0 and smoke.stdout.startswith("ok 1.0"), smoke.stdout + smoke.stderr


ASSISTANT_SMOKE = ONNX_FROM_BUNDLE + """
from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.assistant.groq_client import GroqClient
vector = MiniLMEmbedder().embed_query("How are the events carried?")
assert len(vector) == 384
reply = GroqClient(api_key="test", base_url={groq!r}, max_retries=0).complete(
    model="llama-3.1-8b-instant", messages=[("user", "Which system carries the events?")], temperature=0.1,
    max_tokens=64)
print("ok", reply.content)
"""


def test_the_assistant_bundle_fits_its_budget_embeds_and_calls_groq_on_its_own(tmp_path: Path) -> None:
    # Without the pruning (functions/assistant/Makefile) the bundle and the layer were 274 MB unzipped:
    # over Lambda's limit, so the function could not have been deployed.
    from tests.integration.assistant.fake_groq import fake_groq

    _build("assistant", tmp_path)
    assert not list((tmp_path / "function" / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    with fake_groq() as groq:
        groq.reply = lambda request: "Kafka carries the events [1]"
        smoke = _in_bundle(tmp_path, ASSISTANT_SMOKE, groq=groq.url)
    assert smoke.returncode == 0 and smoke.stdout.strip() == "ok Kafka carries the events [1]", \
        smoke.stdout + smoke.stderr
    assert len(groq.requests) == 1 and groq.requests[0]["_authorization"] == "Bearer test"


HANDLER_IMPORT = ON_BUNDLE_PATH + """
import app
assert callable(app.handler)
print("ok", sum(1 for m in sys.modules.values() if (getattr(m, "__file__", None) or "").startswith({root!r})))
"""


def test_the_other_bundles_ship_bytecode_that_lambda_uses_without_reading_a_source(tmp_path: Path) -> None:
    """SharedLayer and a function built by their Makefiles (shared/Makefile): every module has
    `unchecked-hash` bytecode for this Python, so a cold start in Lambda's read-only /var/task and
    /opt compiles nothing. Shown by replacing every source with a `raise` and importing the
    handler: only the bytecode can have run."""
    import importlib.util

    layer, function = tmp_path / "layer", tmp_path / "function"
    for folder, target, out in ((ROOT / "shared", "build-SharedLayer", layer),
                                (ROOT / "functions" / "outbox_relay", "build-OutboxRelayFunction", function)):
        built = subprocess.run(["make", "--no-print-directory", "-C", str(folder), target, f"ARTIFACTS_DIR={out}",
                                f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=540)
        assert built.returncode == 0, built.stdout + built.stderr
    sources = [p for p in [*layer.rglob("*.py"), *function.rglob("*.py")] if "__pycache__" not in p.parts]
    assert len(sources) > 500
    unchecked = 0b01  # PEP 552 flags: hash-based, source not checked
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert int.from_bytes(cached.read_bytes()[4:8], "little") == unchecked, source
        source.write_text("raise RuntimeError('a source was read')\n")
    smoke = _in_bundle(tmp_path, HANDLER_IMPORT, timeout=120, env={"PYTHONDONTWRITEBYTECODE": "1"}, root=str(tmp_path))
    assert smoke.returncode == 0 and smoke.stdout.startswith("ok "), smoke.stdout + smoke.stderr
    assert int(smoke.stdout.split()[1]) > 100  # the handler's import graph came from the bundles
    # the lean layer (IngestFunction, AssistantFunction) has none: its size budget is spent
    lean = tmp_path / "lean"
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "shared"), "build-SharedLayerLean",
                    f"ARTIFACTS_DIR={lean}", f"PYTHON={sys.executable}"], check=True, capture_output=True, timeout=540)
    assert not list(lean.rglob("*.pyc"))
