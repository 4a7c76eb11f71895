"""Chunking: token bounds, structure (pages, slides, headings, cues), merging, overlap, context."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from smartcourse.ai.chunking import CONTEXT_SEPARATOR, Chunk, chunk_document
from smartcourse.ai.embeddings import count_tokens
from smartcourse.ai.extract import DocumentFormat, ExtractedDocument, Section, extract

PG_DOCS = Path(__file__).parents[2] / "fixtures" / "docs"  # pages of Debian's postgresql-doc-15

SENTENCES = [
    "PostgreSQL stores table data in heap files split into fixed size pages.",
    "Each row version carries the transaction ids that created and deleted it.",
    "A snapshot decides which row versions are visible to a running query.",
    "VACUUM removes row versions that no transaction can see any more.",
    "Indexes point at row versions, so they also need periodic cleanup.",
    "The planner estimates costs from statistics gathered by ANALYZE.",
    "A sequential scan reads every page of the table in physical order.",
    "An index scan follows the index and then visits the matching heap pages.",
    "Bitmap scans sort heap page references before visiting them.",
    "Hash joins build an in-memory table from the smaller input.",
    "Merge joins need both inputs sorted on the join key.",
    "Nested loops are best when the outer input is small.",
]


def facts(start: int, n: int) -> list[str]:
    return [f"Fact {i}: {SENTENCES[i % len(SENTENCES)]}" for i in range(start, start + n)]


def doc_of(fmt: DocumentFormat, sections: list[Section], title: str = "DB Notes") -> ExtractedDocument:
    return ExtractedDocument(sections=tuple(sections), title=title, format=fmt)


def assert_well_formed(chunks: list[Chunk], max_tokens: int, counter: Callable[[str], int] = count_tokens) -> None:
    assert chunks
    for chunk in chunks:
        assert chunk.token_count == counter(chunk.text)
        assert chunk.token_count <= max_tokens, chunk.text
        assert chunk.body.strip()
        if chunk.context:
            assert chunk.text == f"{chunk.context}\n\n{chunk.body}"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def fact_ids(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"Fact (\d+):", text)]


def long_paragraph(n: int, start: int = 0) -> str:
    return " ".join(facts(start, n))


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("max_tokens", [24, 48, 100, 256])
def test_no_chunk_exceeds_max_tokens(max_tokens: int) -> None:
    sections = [
        Section(long_paragraph(40), {"heading_path": ["Storage"]}),  # one huge paragraph
        Section("short one", {"heading_path": ["Storage"]}),
        Section("\n".join(facts(40, 30)), {"heading_path": ["Storage", "Lines"]}),  # many lines
        Section("x" * 3000, {"heading_path": ["Blobs"]}),  # one "word" of 3000 characters
        Section("aGVsbG8gd29ybGQ=" * 150, {"heading_path": ["Blobs"]}),  # base64-ish, no spaces
        Section("数据库系统" * 200, {"heading_path": ["Unicode"]}),  # CJK: one token per character
    ]
    chunks = chunk_document(
        doc_of(DocumentFormat.MARKDOWN, sections), max_tokens=max_tokens, overlap_tokens=max_tokens // 8
    )
    assert_well_formed(chunks, max_tokens)
    # Nothing is lost: every fact appears in some chunk.
    seen = {i for c in chunks for i in fact_ids(c.text)}
    assert seen == set(range(70))
    assert sum(c.body.count("x") for c in chunks) >= 3000


def test_default_budget_is_the_model_window() -> None:
    doc = doc_of(DocumentFormat.TEXT, [Section(long_paragraph(200), {"paragraph": 1})])
    chunks = chunk_document(doc)
    assert_well_formed(chunks, 256)
    assert max(c.token_count for c in chunks) > 200  # chunks are filled, not tiny


def test_custom_counter_with_special_token_overhead() -> None:
    # A counter charging 2 tokens for "" (like [CLS]/[SEP]) must be charged once per chunk.
    def counter(text: str) -> int:
        return len(text.split()) + 2

    doc = doc_of(DocumentFormat.TEXT, [Section(long_paragraph(60), {"paragraph": 1})])
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=0, token_counter=counter)
    assert_well_formed(chunks, 50, counter)
    assert min(c.token_count for c in chunks[:-1]) >= 35  # not starved by per-piece overhead


def test_invalid_parameters() -> None:
    doc = doc_of(DocumentFormat.TEXT, [Section("hello", {"paragraph": 1})])
    with pytest.raises(ValueError):
        chunk_document(doc, max_tokens=4)
    with pytest.raises(ValueError):
        chunk_document(doc, max_tokens=64, overlap_tokens=64)
    with pytest.raises(ValueError):
        chunk_document(doc, max_tokens=64, overlap_tokens=-1)


# --------------------------------------------------------------------------- overlap


def test_split_section_overlaps_consecutive_chunks() -> None:
    doc = doc_of(DocumentFormat.MARKDOWN, [Section(long_paragraph(60), {"heading_path": ["Scans"]})])
    chunks = chunk_document(doc, max_tokens=96, overlap_tokens=32)
    assert len(chunks) >= 4
    assert_well_formed(chunks, 96)
    for before, after in itertools.pairwise(chunks):
        ids_before, ids_after = fact_ids(before.body), fact_ids(after.body)
        assert ids_after[0] <= ids_before[-1], "the next chunk should repeat the end of the previous one"
        assert ids_after[0] > ids_before[0], "and still move forward"
        assert all(c.location == {"heading_path": ["Scans"]} for c in (before, after))


def test_zero_overlap_repeats_nothing() -> None:
    doc = doc_of(DocumentFormat.MARKDOWN, [Section(long_paragraph(60), {"heading_path": ["Scans"]})])
    chunks = chunk_document(doc, max_tokens=96, overlap_tokens=0)
    ids = [i for c in chunks for i in fact_ids(c.body)]
    assert ids == list(range(60))


# --------------------------------------------------------------------------- structure


def test_pages_are_never_merged() -> None:
    doc = doc_of(DocumentFormat.PDF, [Section(f"Short page {n}.", {"page": n}) for n in range(1, 6)])
    chunks = chunk_document(doc)
    assert [c.location for c in chunks] == [{"page": n} for n in range(1, 6)]
    assert [c.body for c in chunks] == [f"Short page {n}." for n in range(1, 6)]


def test_long_page_is_split_and_keeps_its_page() -> None:
    sections = [Section("Cover page.", {"page": 1}), Section(long_paragraph(50), {"page": 2})]
    chunks = chunk_document(doc_of(DocumentFormat.PDF, sections), max_tokens=80)
    assert chunks[0].location == {"page": 1}
    assert len(chunks) > 3
    assert all(c.location == {"page": 2} for c in chunks[1:])


def test_paragraphs_under_one_heading_merge_but_headings_split() -> None:
    sections = [
        Section("Heap files hold rows.", {"heading_path": ["Storage"], "line": 3}),
        Section("Pages are 8 kB.", {"heading_path": ["Storage"], "line": 5}),
        Section("TOAST stores big values.", {"heading_path": ["Storage"], "line": 7}),
        Section("B-trees are ordered.", {"heading_path": ["Storage", "Indexes"], "line": 11}),
        Section("Hash is equality only.", {"heading_path": ["Storage", "Indexes"], "line": 13}),
        Section("Back under storage.", {"heading_path": ["Storage"], "line": 17}),
    ]
    chunks = chunk_document(doc_of(DocumentFormat.MARKDOWN, sections, title="PG Internals"))
    assert [c.body for c in chunks] == [
        "Heap files hold rows.\n\nPages are 8 kB.\n\nTOAST stores big values.",
        "B-trees are ordered.\n\nHash is equality only.",
        "Back under storage.",
    ]
    assert [c.location for c in chunks] == [
        {"heading_path": ["Storage"], "line": 3},
        {"heading_path": ["Storage", "Indexes"], "line": 11},
        {"heading_path": ["Storage"], "line": 17},
    ]
    assert [c.context for c in chunks] == [
        "PG Internals > Storage",
        "PG Internals > Storage > Indexes",
        "PG Internals > Storage",
    ]


def test_small_paragraphs_pack_up_to_the_budget() -> None:
    sections = [Section(text, {"heading_path": ["Facts"]}) for text in facts(0, 40)]
    chunks = chunk_document(doc_of(DocumentFormat.HTML, sections), max_tokens=100)
    assert_well_formed(chunks, 100)
    assert 4 <= len(chunks) < 20
    assert [i for c in chunks for i in fact_ids(c.body)] == list(range(40))  # in order, no repeats


def test_transcript_cues_merge_into_time_ranges() -> None:
    def stamp(seconds: float) -> str:
        return f"00:{int(seconds) // 60:02d}:{int(seconds) % 60:02d}.000"

    cues = [
        Section(
            text, {"start": stamp(4 * i), "end": stamp(4 * i + 4), "start_seconds": 4.0 * i, "end_seconds": 4.0 * i + 4}
        )
        for i, text in enumerate(facts(0, 30))
    ]
    chunks = chunk_document(doc_of(DocumentFormat.VTT, cues, title="Lecture 3"), max_tokens=96, overlap_tokens=20)
    assert_well_formed(chunks, 96)
    assert len(chunks) >= 3
    for chunk in chunks:
        ids = fact_ids(chunk.body)
        assert ids == list(range(ids[0], ids[-1] + 1))  # consecutive cues
        assert chunk.location["start_seconds"] == ids[0] * 4.0  # start of the first cue
        assert chunk.location["end_seconds"] == ids[-1] * 4.0 + 4.0  # end of the last cue
        assert chunk.location["start"] == stamp(ids[0] * 4)
        assert chunk.location["end"] == stamp(ids[-1] * 4 + 4)
        assert chunk.context == "Lecture 3"
    # consecutive transcript chunks share a cue or two (overlap), and cover everything
    for before, after in itertools.pairwise(chunks):
        assert 0 < fact_ids(before.body)[-1] - fact_ids(after.body)[0] + 1 <= 2
    assert {i for c in chunks for i in fact_ids(c.body)} == set(range(30))


def test_plain_text_chunks_carry_paragraph_ranges() -> None:
    sections = [Section(text, {"paragraph": n, "line": 2 * n - 1}) for n, text in enumerate(facts(0, 12), start=1)]
    chunks = chunk_document(doc_of(DocumentFormat.TEXT, sections), max_tokens=64)
    assert len(chunks) > 1
    expected_start = 1
    for chunk in chunks:
        ids = fact_ids(chunk.body)
        assert chunk.location["paragraph"] == ids[0] + 1 == expected_start
        assert chunk.location["paragraph_end"] == ids[-1] + 1
        assert chunk.location["line"] == 2 * chunk.location["paragraph"] - 1
        expected_start = chunk.location["paragraph_end"] + 1
    assert chunks[-1].location["paragraph_end"] == 12


def test_slides_keep_their_title_as_context() -> None:
    sections = [
        Section(
            "Normalization\n1NF: atomic values\n2NF: no partial dependencies", {"slide": 1, "title": "Normalization"}
        ),
        Section("Functional dependencies determine keys.", {"slide": 2}),
        Section("Joins\n" + long_paragraph(30), {"slide": 3, "title": "Joins"}),
    ]
    chunks = chunk_document(doc_of(DocumentFormat.PPTX, sections, title="DB Lecture 4"), max_tokens=80)
    assert chunks[0].context == "DB Lecture 4 > Normalization"
    assert chunks[0].body == "1NF: atomic values\n2NF: no partial dependencies"  # title not repeated
    assert chunks[1].context == "DB Lecture 4" and chunks[1].location == {"slide": 2}
    slide3 = [c for c in chunks if c.location["slide"] == 3]
    assert len(slide3) > 1
    assert all(c.context == "DB Lecture 4 > Joins" and c.text.startswith("DB Lecture 4 > Joins\n\n") for c in slide3)


def test_context_skips_a_first_heading_equal_to_the_title() -> None:
    sections = [Section("Body.", {"heading_path": ["Query Planning", "Costs"]})]
    (chunk,) = chunk_document(doc_of(DocumentFormat.MARKDOWN, sections, title="Query Planning"))
    assert chunk.context == f"Query Planning{CONTEXT_SEPARATOR}Costs"
    assert chunk.text == "Query Planning > Costs\n\nBody."


def test_context_uses_a_first_heading_that_extends_the_title() -> None:
    # asciidoc: <title>git-mv(1)</title>, <h1>git-mv(1) Manual Page</h1>
    sections = [Section("git-mv - Move or rename a file", {"heading_path": ["git-mv(1) Manual Page", "NAME"]})]
    (chunk,) = chunk_document(doc_of(DocumentFormat.HTML, sections, title="git-mv(1)"))
    assert chunk.context == "git-mv(1) Manual Page > NAME"
    # a title that is only the start of a word is not repeated by the heading
    sections = [Section("Body.", {"heading_path": ["SQLite basics"]})]
    (chunk,) = chunk_document(doc_of(DocumentFormat.HTML, sections, title="SQL"))
    assert chunk.context == "SQL > SQLite basics"


# --------------------------------------------------------------------------- code blocks, lead-ins

CODE = "\n".join(f"    step_{i} = run(step_{i - 1}, retries={i})  # stage {i}" for i in range(1, 9))


def test_code_block_that_fits_is_never_cut() -> None:
    code_size = count_tokens(CODE)
    assert 100 < code_size < 200
    path = {"heading_path": ["Pipelines"]}
    # text before the block fills most of the first chunk: the block moves whole to the next one
    filler = long_paragraph(7)
    assert count_tokens(f"DB Notes > Pipelines\n\n{filler}\n\n{CODE}") > 256
    sections = [Section(filler, path), Section(CODE, path), Section("After the code.", path)]
    chunks = chunk_document(doc_of(DocumentFormat.HTML, sections), max_tokens=256, overlap_tokens=32)
    assert_well_formed(chunks, 256)
    holding = [c for c in chunks if "step_1 =" in c.text or "step_8 =" in c.text]
    assert len(holding) == 1
    # whole, every line with its indentation (the first one too), not split
    assert holding[0].body == f"{CODE}\n\nAfter the code."


def test_lead_in_goes_with_what_it_introduces() -> None:
    path = {"heading_path": ["Pipelines"]}
    filler = long_paragraph(7)
    budget = 256 - count_tokens("DB Notes > Pipelines\n\n")
    assert count_tokens(filler) + count_tokens("For example:") < budget < count_tokens(filler) + count_tokens(CODE)
    sections = [Section(filler, path), Section("For example:", path), Section(CODE, path)]
    chunks = chunk_document(doc_of(DocumentFormat.HTML, sections), max_tokens=256, overlap_tokens=32)
    assert_well_formed(chunks, 256)
    assert [c.body for c in chunks] == [filler, f"For example:\n\n{CODE}"]


def test_overlong_headings_are_trimmed_from_the_top() -> None:
    path = [f"Heading level {i} with rather long words" for i in range(8)]
    sections = [Section("The actual content.", {"heading_path": path})]
    (chunk,) = chunk_document(doc_of(DocumentFormat.HTML, sections), max_tokens=64, overlap_tokens=8)
    assert chunk.token_count <= 64
    assert chunk.body == "The actual content."
    # the deepest headings are kept, the title and top levels dropped, until the body has half
    assert chunk.context == CONTEXT_SEPARATOR.join(path[-3:])
    # (one more heading would leave the body less than half of the 64 tokens)
    assert 64 - count_tokens(CONTEXT_SEPARATOR.join(path[-4:])) < 32 <= 64 - count_tokens(chunk.context)


def test_locations_are_copies() -> None:
    section = Section("Text.", {"heading_path": ["A"]})
    (chunk,) = chunk_document(doc_of(DocumentFormat.MARKDOWN, [section]))
    chunk.location["heading_path"].append("mutated")
    assert section.location == {"heading_path": ["A"]}


# --------------------------------------------------------------------------- end to end


def test_extracted_markdown_end_to_end() -> None:
    body = "\n\n".join(facts(0, 25))
    md = f"# Internals\n\nIntro.\n\n## Storage\n\n{body}\n\n## Planner\n\nCosts come from statistics.\n"
    doc = extract(md.encode(), "internals.md", None)
    chunks = chunk_document(doc, max_tokens=128)
    assert_well_formed(chunks, 128)
    assert chunks[0].location["heading_path"] == ["Internals"] and chunks[0].body == "Intro."
    storage = [c for c in chunks if c.location["heading_path"] == ["Internals", "Storage"]]
    assert len(storage) >= 2
    assert all(c.context == "Internals > Storage" for c in storage)  # title == H1 is not repeated
    assert chunks[-1].location["heading_path"] == ["Internals", "Planner"]


def test_postgresql_manual_chunks() -> None:
    doc = extract((PG_DOCS / "sql-select.html").read_bytes(), "sql-select.html", "text/html")
    chunks = chunk_document(doc)
    assert_well_formed(chunks, 256)
    assert len(chunks) > 20
    paths = {tuple(c.location["heading_path"]) for c in chunks}
    assert ("Description",) in paths
    assert any("FROM" in c.text and c.location["heading_path"][:1] == ["Parameters"] for c in chunks)
