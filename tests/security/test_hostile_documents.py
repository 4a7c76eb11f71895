"""Decompression bombs and hostile PDFs (issue 8, part 4).

Each hostile document (built in code by `tests.fixtures.hostile.bombs`) is extracted in a child
process whose address space is capped with ``resource.setrlimit(RLIMIT_AS, ...)`` at what the
interpreter already uses plus `BUDGET`: a bomb that made extraction allocate past the cap would
end in MemoryError, so "refused with a reason under the cap" proves memory stayed bounded. The
child reports the outcome and its peak RSS. A control shows the cap bites: CPython's own
``ZipFile.read`` of the lying bomb fails under the same cap. Then two bombs go through the real
ingestion handler: failed with a reason, and the next upload is indexed. No timing thresholds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smartcourse.readonly.ai_index import asset_statuses
from tests.fixtures.hostile import bombs
from tests.integration.ingest.conftest import IngestEnv, ingest  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
BUDGET = 384 * MIB  # address space the extraction may add on top of the loaded interpreter

CHILD = r"""
import json, os, resource, sys
sys.path[:0] = [sys.argv[4], os.path.join(sys.argv[4], "shared")]
import docx, pptx, pypdf, lxml.etree, zipfile  # loaded before the cap: only extraction counts
from smartcourse.ai import extract as ex
path, name, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the RSS high-water mark (VmHWM): only the extraction's peak is measured
base_vm = status("VmSize") * 1024
resource.setrlimit(resource.RLIMIT_AS, (base_vm + budget, base_vm + budget))
out = {"base_rss_kb": status("VmRSS")}
try:
    if name == "control:zipfile.read":
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as zf:
            for info in zf.infolist():
                zf.read(info)
        out["code"] = "ok"
    else:
        doc = ex.extract(data, name)
        out.update(code="ok", sections=len(doc.sections), text=doc.text[:200])
except ex.ExtractionError as exc:
    out.update(code=exc.code, message=exc.message)
except MemoryError:
    out.update(code="MemoryError")
except Exception as exc:
    out.update(code="crash", message=f"{type(exc).__name__}: {exc}"[:300])
out["peak_rss_kb"] = status("VmHWM")
print(json.dumps(out))
"""


def run_capped(tmp_path: Path, data: bytes, name: str, budget: int = BUDGET) -> dict[str, Any]:
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), name, str(budget), str(ROOT)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["added_rss_mb"] = round((result["peak_rss_kb"] - result["base_rss_kb"]) / 1024, 1)
    return result


Case = tuple[str, Callable[[], bytes], str, str, str]
CASES: list[Case] = [
    # id, builder, file name, expected code, fragment of the reason (or of the text when ok)
    ("docx 1 GiB member", lambda: bombs.office_bomb("docx"), "bomb.docx", "document_too_large", "unpacks to"),
    ("pptx 1 GiB member", lambda: bombs.office_bomb("pptx"), "bomb.pptx", "document_too_large", "unpacks to"),
    ("docx part declaring 2 KB inflating to 512 MiB", lambda: bombs.office_lying_bomb("docx"), "lying.docx",
     "document_too_large", "too large when decompressed"),
    ("pptx slide declaring 2 KB inflating to 512 MiB", lambda: bombs.office_lying_bomb("pptx"), "lying.pptx",
     "document_too_large", "too large when decompressed"),
    ("docx member declaring 1 TB", lambda: bombs.office_huge_declared("docx"), "huge.docx",
     "document_too_large", "unpacks to"),
    ("docx 20,000 members", lambda: bombs.office_many_members("docx"), "many.docx", "document_too_large", "parts"),
    ("docx XML nested 20,000 deep", lambda: bombs.office_deep_xml("docx"), "deep.docx", "corrupt_document",
     "damaged"),
    ("pptx XML nested 20,000 deep", lambda: bombs.office_deep_xml("pptx"), "deep.pptx", "corrupt_document",
     "damaged"),
    ("docx embedding a 1 GiB zip bomb", lambda: bombs.office_nested_zip("docx"), "nested.docx", "ok",
     "A real paragraph"),
    ("docx with zip-slip member names", lambda: bombs.office_zip_slip("docx"), "slip.docx", "ok",
     "A real paragraph"),
    ("pptx with zip-slip member names", lambda: bombs.office_zip_slip("pptx"), "slip.pptx", "ok", "A real bullet"),
    ("pdf page tree claiming 10^9 pages", bombs.pdf_page_count_lie, "count.pdf", "ok", "Hello"),
    ("pdf with 5,000 pages", bombs.pdf_many_pages, "pages.pdf", "document_too_large", "5000 pages"),
    ("pdf content stream inflating to 512 MiB", bombs.pdf_flate_bomb, "flate.pdf", "document_too_large",
     "too large when decompressed"),
    ("pdf stream declaring /Length 10^12", bombs.pdf_huge_length, "length.pdf", "document_too_large",
     "too large when decompressed"),
    ("pdf 100,000 x 100,000 image", bombs.pdf_huge_image, "image.pdf", "ok", "Caption text here"),
    ("pdf arrays nested 100,000 deep, page tree cycle", bombs.pdf_deep_recursion, "deep.pdf", "corrupt_document",
     "cannot be read"),
    ("pdf 3,000,000 operators on one page", bombs.pdf_operator_flood, "ops.pdf", "document_too_large",
     "content tokens"),
]


@pytest.mark.parametrize(("build", "name", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_documents_are_refused_with_a_reason_within_a_memory_cap(
        tmp_path: Path, build: Callable[[], bytes], name: str, code: str, fragment: str) -> None:
    data = build()
    result = run_capped(tmp_path, data, name)
    print(f"\n{name}: {len(data):,} bytes -> {result['code']} (+{result['added_rss_mb']} MB RSS) "
          f"{result.get('message', '')}")
    assert result["code"] == code, result
    if code == "ok":
        assert fragment in result["text"], result
    else:
        assert fragment in result["message"], result
    assert result["added_rss_mb"] * MIB < BUDGET
    assert not any(Path("/tmp").glob("smartcourse-zip-slip*")), "a zip-slip name escaped"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.bin"]  # nothing extracted to disk


def test_the_memory_cap_bites_cpython_zipfile_read_of_the_lying_bomb_fails_under_it(tmp_path: Path) -> None:
    """The control: without the guard, reading the 2 KB-declared part inflates its whole stream."""
    result = run_capped(tmp_path, bombs.office_lying_bomb("docx"), "control:zipfile.read")
    assert result["code"] == "MemoryError", result


# --------------------------------------------------------------------------- through ingestion

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.integration
@pytest.mark.parametrize(("build", "filename", "content_type"), [
    (lambda: bombs.office_lying_bomb("docx"), "lecture.docx", DOCX),
    (lambda: bombs.office_bomb("docx"), "slides.docx", DOCX),
    (bombs.pdf_flate_bomb, "handout.pdf", "application/pdf"),
    (bombs.pdf_operator_flood, "reader.pdf", "application/pdf"),
], ids=["docx lying member", "docx 1 GiB member", "pdf flate bomb", "pdf operator flood"])
def test_a_bomb_uploaded_as_course_material_fails_with_a_reason_and_ingestion_keeps_serving(
        ingest: IngestEnv, build: Callable[[], bytes], filename: str, content_type: str) -> None:  # noqa: F811
    data = build()
    asset, result = ingest.upload(ingest.course(), filename, data, content_type)
    assert result["failed"] == 1, result
    status = asset_statuses(ingest.db, [asset.id])[asset.id]
    assert (status.status, status.error_code) == ("failed", "document_too_large"), status
    assert "too large" in status.error or "unpacks" in status.error, status.error
    assert not ingest.chunks(asset.id)
    text = b"# After the bomb\n\nVacuum reclaims storage occupied by dead tuples in PostgreSQL tables.\n"
    good, result = ingest.upload(ingest.course(), "after.md", text, "text/markdown")
    assert result["indexed"] + result["reused"] == 1, result
    assert asset_statuses(ingest.db, [good.id])[good.id].status == "ready"
