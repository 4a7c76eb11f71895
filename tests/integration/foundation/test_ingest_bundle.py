"""The IngestFunction bundle as `sam build` makes it (functions/ingest/Makefile): within its budget
(issue 19: 230 MB with the SharedLayer, against Lambda's 262,144,000 bytes unzipped), and still
able to embed with nothing but the bundle and the layer on the path (what the pruning removed,
such as onnxruntime's C API library, is really unused)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BUDGET = 230_000_000

SMOKE = """
import sys
sys.path[:0] = [{function!r}, {layer!r}]
import onnxruntime
assert onnxruntime.__file__.startswith({function!r}), onnxruntime.__file__
from smartcourse.ai.extract import extract
from smartcourse.ai.embeddings import MiniLMEmbeddings
page = extract(b"<html><body><main><h1>Bundles</h1><p>Parsed by lxml and BeautifulSoup.</p></main></body></html>",
               "page.html", "text/html")
assert "BeautifulSoup" in page.text, page.text
vectors = MiniLMEmbeddings().embed_documents(["pgvector stores embeddings", "Kafka carries the events"])
assert len(vectors) == 2 and len(vectors[0]) == 384
print("ok", round(sum(x * x for x in vectors[0]), 3))
"""


def test_the_ingest_bundle_fits_its_budget_and_embeds_on_its_own(tmp_path: Path) -> None:
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT / "functions" / "ingest"), "bundle-size",
                          f"PIP={Path(sys.executable).parent / 'pip'}", f"BUNDLE_DIR={tmp_path}",
                          f"BUDGET={BUDGET}"], capture_output=True, text=True, timeout=540)
    line = re.search(r"= (\d+) bytes \(budget", out.stdout)
    assert line is not None, out.stdout + out.stderr
    assert int(line.group(1)) <= BUDGET and out.returncode == 0, out.stdout + out.stderr
    assert not list((tmp_path / "function" / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    # -S: no site-packages of this virtualenv, only what Lambda would have
    smoke = subprocess.run([sys.executable, "-S", "-c", SMOKE.format(function=str(tmp_path / "function"),
                                                                    layer=str(tmp_path / "layer" / "python"))],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert smoke.returncode == 0 and smoke.stdout.startswith("ok 1.0"), smoke.stdout + smoke.stderr
