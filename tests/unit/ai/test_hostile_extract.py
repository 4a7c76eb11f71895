"""Extraction limits that hold before anything is inflated or parsed (small, fast versions of the
bombs in tests/security/test_hostile_documents.py)."""

from __future__ import annotations

import pytest

from smartcourse.ai.extract import CorruptDocument, DocumentTooLarge, ExtractionLimits, extract
from tests.fixtures.hostile import bombs

MIB = 1024 * 1024


def test_a_part_inflating_beyond_its_declared_size_is_refused_before_the_parser_reads_it() -> None:
    data = bombs.office_lying_bomb("docx", inflated=8 * MIB)
    with pytest.raises(DocumentTooLarge, match=r"too large when decompressed.*2,048 bytes"):
        extract(data, "lying.docx")


def test_the_declared_total_is_checked_before_any_member_is_inflated() -> None:
    data = bombs.office_bomb("docx", inflated=8 * MIB)
    with pytest.raises(DocumentTooLarge, match="unpacks to 9 MiB; the limit is 4 MiB"):
        extract(data, "bomb.docx", limits=ExtractionLimits(max_zip_uncompressed_bytes=4 * MIB,
                                                            max_zip_compression_ratio=10**9))


def test_zip_slip_names_are_never_used_as_paths() -> None:
    doc = extract(bombs.office_zip_slip("docx"), "slip.docx")
    assert "A real paragraph" in doc.text


def test_deeply_nested_office_xml_is_a_corrupt_document() -> None:
    with pytest.raises(CorruptDocument):
        extract(bombs.office_deep_xml("docx", depth=5000), "deep.docx")


def test_a_pdf_stream_inflating_past_the_limit_is_too_large_when_decompressed() -> None:
    data = bombs.pdf_flate_bomb(inflated=16 * MIB)
    with pytest.raises(DocumentTooLarge, match="too large when decompressed"):
        extract(data, "flate.pdf", limits=ExtractionLimits(max_pdf_stream_bytes=4 * MIB))


def test_a_pdf_page_with_too_many_operators_is_too_large() -> None:
    data = bombs.pdf_operator_flood(operators=100_000)
    with pytest.raises(DocumentTooLarge, match="content tokens"):
        extract(data, "ops.pdf", limits=ExtractionLimits(max_pdf_stream_tokens=50_000))


def test_pdf_text_is_capped_while_reading_pages() -> None:
    data = bombs.pdf_many_pages(count=30)
    with pytest.raises(DocumentTooLarge, match="by page"):
        extract(data, "pages.pdf", limits=ExtractionLimits(max_text_chars=40))
