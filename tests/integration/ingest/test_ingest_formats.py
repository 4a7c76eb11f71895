"""Every supported format, made from pages of the PostgreSQL manual, uploaded to S3 and ingested
through the IngestFunction handler: the document is ready and each chunk says where its text is."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.ingest import documents as docs
from tests.integration.ingest.conftest import IngestEnv, sha256

pytestmark = pytest.mark.integration


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def chunk_with(chunks: list[dict[str, Any]], phrase: str) -> dict[str, Any]:
    wanted = words(phrase)
    found = [c for c in chunks if wanted in words(c["text"])]
    assert found, f"no chunk contains {phrase!r}"
    return found[0]


def opening(paragraph: str, n: int = 8) -> str:
    return " ".join(paragraph.split()[:n])


def assert_ready(env: IngestEnv, asset_id: Any, data: bytes, fmt: str) -> list[dict[str, Any]]:
    (doc,) = env.documents(asset_id)
    assert (doc["status"], doc["error"]) == ("ready", None)
    assert doc["format"] == fmt
    assert doc["content_hash"] == sha256(data)
    assert doc["model_name"] == "sentence-transformers/all-MiniLM-L6-v2" and doc["model_version"]
    chunks = env.chunks(asset_id)
    assert len(chunks) == doc["chunk_count"] > 0
    assert [c["ordinal"] for c in chunks] == list(range(len(chunks)))
    assert all(c["token_count"] <= 256 for c in chunks)
    assert env.status(asset_id)["status"] == "ready"
    return chunks


def test_pdf_chunks_carry_their_page_numbers(ingest: IngestEnv) -> None:
    pages = [docs.manual_page(n).paragraphs[:2] for n in
             ("indexes-intro.html", "mvcc-intro.html", "tutorial-transactions.html")]
    data = docs.pdf(pages, title="Indexes and transactions")
    course = ingest.course()

    asset, result = ingest.upload(course, "notes.pdf", data, "application/pdf")

    assert result["indexed"] == 1
    chunks = assert_ready(ingest, asset.id, data, "pdf")
    for number, paragraphs in enumerate(pages, start=1):
        assert chunk_with(chunks, opening(paragraphs[0]))["metadata"]["page"] == number


def test_html_manual_page_chunks_carry_heading_paths(ingest: IngestEnv) -> None:
    data = docs.html_bytes("indexes-types.html")
    asset, _ = ingest.upload(ingest.course(), "indexes-types.html", data, "text/html")

    chunks = assert_ready(ingest, asset.id, data, "html")
    btree = chunk_with(chunks, "B-trees can handle equality and range queries")
    assert btree["metadata"]["heading_path"] == ["11.2. Index Types", "11.2.1. B-Tree"]
    gist = chunk_with(chunks, "GiST indexes are not a single kind of index")
    assert gist["metadata"]["heading_path"][-1] == "11.2.3. GiST"
    assert all(c["title"] == "11.2. Index Types" for c in chunks)


def test_markdown_and_docx_chunks_carry_heading_paths(ingest: IngestEnv) -> None:
    intro, mvcc = docs.manual_page("indexes-intro.html"), docs.manual_page("mvcc-intro.html")
    sections = [("Why indexes", intro.paragraphs[:2]), ("Concurrency control", mvcc.paragraphs[:2])]
    course = ingest.course()
    md = docs.markdown("Database basics", sections)
    word = docs.docx("Database basics", sections)

    md_asset, _ = ingest.upload(course, "basics.md", md, "text/markdown")
    docx_asset, _ = ingest.upload(
        course, "basics.docx", word, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")

    for asset_id, data, fmt in ((md_asset.id, md, "markdown"), (docx_asset.id, word, "docx")):
        chunks = assert_ready(ingest, asset_id, data, fmt)
        assert chunk_with(chunks, opening(intro.paragraphs[0]))["metadata"]["heading_path"][-1] == "Why indexes"
        assert chunk_with(chunks, opening(mvcc.paragraphs[0]))["metadata"]["heading_path"][-1] == \
            "Concurrency control"


def test_pptx_chunks_carry_slide_numbers(ingest: IngestEnv) -> None:
    page = docs.manual_page("tutorial-transactions.html")
    bullets = docs.sentences(page.paragraphs)
    slides = [("What a transaction is", bullets[0:2]), ("Atomic updates", bullets[2:4]),
              ("Savepoints", bullets[-2:])]
    data = docs.pptx(slides)
    asset, _ = ingest.upload(ingest.course(), "transactions.pptx", data,
                             "application/vnd.openxmlformats-officedocument.presentationml.presentation")

    chunks = assert_ready(ingest, asset.id, data, "pptx")
    for number, (title, texts) in enumerate(slides, start=1):
        meta = chunk_with(chunks, opening(texts[0], 6))["metadata"]
        assert (meta["slide"], meta["title"]) == (number, title)


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_transcript_chunks_carry_start_and_end_times(ingest: IngestEnv, fmt: str) -> None:
    lines = docs.sentences(docs.manual_page("mvcc-intro.html").paragraphs)[:12]
    data = docs.vtt(lines) if fmt == "vtt" else docs.srt(lines)
    content_type = "text/vtt" if fmt == "vtt" else "application/x-subrip"
    asset, _ = ingest.upload(ingest.course(), f"lecture.{fmt}", data, content_type)

    chunks = assert_ready(ingest, asset.id, data, fmt)
    for i, line in enumerate(lines):  # cue i runs from 6i to 6(i+1) seconds
        meta = chunk_with(chunks, line)["metadata"]
        assert meta["start_seconds"] <= i * 6.0 < meta["end_seconds"]
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", meta["start"])


def test_plain_text_chunks_carry_paragraph_numbers(ingest: IngestEnv) -> None:
    paragraphs = docs.manual_page("indexes-intro.html").paragraphs[:4]
    data = docs.text(paragraphs)
    asset, _ = ingest.upload(ingest.course(), "intro.txt", data, "text/plain")

    chunks = assert_ready(ingest, asset.id, data, "text")
    for number, para in enumerate(paragraphs, start=1):
        meta = chunk_with(chunks, opening(para))["metadata"]
        assert meta["paragraph"] <= number <= meta.get("paragraph_end", meta["paragraph"])


def test_chunks_are_stored_with_vectors_and_a_full_text_index(ingest: IngestEnv) -> None:
    data = docs.html_bytes("mvcc-intro.html")
    asset, _ = ingest.upload(ingest.course(), "mvcc.html", data, "text/html")

    row = ingest.db.execute(
        "SELECT vector_dims(embedding) AS dims, round((embedding <#> embedding)::numeric, 3) AS neg_norm2, "
        "tsv @@ websearch_to_tsquery('english', 'snapshot isolation') AS matches "
        "FROM ai.chunks WHERE asset_id = %s ORDER BY ordinal LIMIT 1", (asset.id,)).fetchone()
    assert row["dims"] == 384
    assert float(row["neg_norm2"]) == pytest.approx(-1.0, abs=0.01)  # L2-normalised
    hit = ingest.db.execute(
        "SELECT count(*) AS n FROM ai.chunks WHERE asset_id = %s AND tsv @@ websearch_to_tsquery('english', %s)",
        (asset.id, "multiversion concurrency control")).fetchone()
    assert hit["n"] >= 1
