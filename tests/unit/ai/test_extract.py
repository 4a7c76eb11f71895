"""Extraction: every format's sections and locations, format detection, every failure type.

Fixture documents are built here with the real libraries (fpdf2, pypdf, python-docx,
python-pptx); text formats are inline strings.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfWriter

from smartcourse.ai.extract import (
    CorruptDocument,
    DocumentFormat,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ExtractedDocument,
    ExtractionError,
    ExtractionLimits,
    Section,
    UnsupportedFormat,
    detect_format,
    extract,
)
from tests.fixtures.hostile.bombs import rezip

PG_DOCS = Path(__file__).parents[2] / "fixtures" / "docs"  # pages of Debian's postgresql-doc-15

# --------------------------------------------------------------------------- builders


def make_pdf(pages: list[str], title: str | None = "Intro to SQL") -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def encrypt_pdf(
    data: bytes, user_password: str, owner_password: str | None = None, algorithm: str = "AES-256"
) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password, owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(title: str | None = "Databases Course") -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, 0)
    document.add_paragraph("Preface: how to use these notes.")
    document.add_heading("Week 1: Relational Model", 1)
    document.add_paragraph("Relations are sets of tuples with a fixed schema.")
    document.add_heading("Keys", 2)
    document.add_paragraph("A primary key identifies each row uniquely.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Term"
    table.cell(0, 1).text = "Meaning"
    table.cell(1, 0).text = "FK"
    table.cell(1, 1).text = "Foreign key"
    document.add_heading("Week 2: SQL", 1)
    document.add_paragraph("SELECT retrieves rows from one or more tables.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    s1 = deck.slides.add_slide(deck.slide_layouts[1])
    s1.shapes.title.text = "Normalization"
    s1.placeholders[1].text = "1NF: atomic values\n2NF: no partial dependencies"
    s1.notes_slide.notes_text_frame.text = "Remind students about homework three."
    s2 = deck.slides.add_slide(deck.slide_layouts[6])  # blank layout, no title
    box = s2.shapes.add_textbox(Inches(1), Inches(1), Inches(5), Inches(1))
    box.text_frame.text = "Functional dependencies determine keys."
    s3 = deck.slides.add_slide(deck.slide_layouts[6])  # a slide with no text at all
    s3.shapes.add_shape(1, Inches(1), Inches(1), Inches(1), Inches(1))
    s4 = deck.slides.add_slide(deck.slide_layouts[5])
    s4.shapes.title.text = "Questions?"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_png() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def locations(doc: ExtractedDocument) -> list[dict[str, object]]:
    return [s.location for s in doc.sections]


# --------------------------------------------------------------------------- PDF


def test_pdf_sections_are_pages_and_blank_pages_are_skipped() -> None:
    data = make_pdf(
        [
            "Transactions are atomic units of work. " * 5,
            "",
            "Isolation levels: read committed and serializable.",
        ]
    )
    doc = extract(data, "lecture.pdf", "application/pdf")
    assert doc.format is DocumentFormat.PDF
    assert doc.title == "Intro to SQL"
    assert locations(doc) == [{"page": 1}, {"page": 3}]
    assert "atomic units of work" in doc.sections[0].text
    assert "serializable" in doc.sections[1].text
    assert all(isinstance(s, Section) for s in doc.sections)


def test_pdf_title_falls_back_to_filename() -> None:
    doc = extract(make_pdf(["Some text."], title=None), "week-03_indexes.pdf", None)
    assert doc.title == "week 03 indexes"


def test_pdf_page_cap() -> None:
    data = make_pdf(["one", "two", "three"])
    with pytest.raises(DocumentTooLarge) as info:
        extract(data, "x.pdf", None, limits=ExtractionLimits(max_pdf_pages=2))
    assert info.value.code == "document_too_large"
    assert len(extract(data, "x.pdf", None, limits=ExtractionLimits(max_pdf_pages=3)).sections) == 3


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.7\n" + bytes(range(256)) * 20, id="garbage-after-header"),
        pytest.param(make_pdf(["Some text on a page."])[:300], id="truncated"),
        pytest.param(
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF", id="no-page-tree"
        ),
    ],
)
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(CorruptDocument) as info:
        extract(data, "broken.pdf", "application/pdf")
    assert info.value.code == "corrupt_document"
    assert info.value.message


def test_named_pdf_without_pdf_content_is_corrupt() -> None:
    with pytest.raises(CorruptDocument):
        extract(b"\x01\x02 this is not a pdf at all", "notes.pdf", None)


@pytest.mark.parametrize("algorithm", ["AES-256", "AES-128", "RC4-128"])
def test_encrypted_pdf(algorithm: str) -> None:
    data = encrypt_pdf(make_pdf(["Secret exam answers."]), "s3cret", algorithm=algorithm)
    with pytest.raises(EncryptedDocument) as info:
        extract(data, "exam.pdf", None)
    assert info.value.code == "encrypted_document"


def test_pdf_with_only_an_owner_password_is_readable() -> None:
    # Permission-restricted PDFs open without a password: they must not be rejected.
    data = encrypt_pdf(make_pdf(["Printable but not editable."]), "", "owner-pw")
    doc = extract(data, "restricted.pdf", None)
    assert "Printable but not editable." in doc.sections[0].text


def test_pdf_without_text_is_empty() -> None:
    with pytest.raises(EmptyDocument) as info:
        extract(make_pdf(["", ""]), "scan.pdf", None)
    assert "OCR" in info.value.message
    assert info.value.code == "empty_document"


# --------------------------------------------------------------------------- Markdown

MARKDOWN = """---
title: Databases 101
author: someone
---
Intro paragraph before any heading.

# Storage

Pages are 8 kB blocks.

```sql
# this is not a heading
SELECT 1;
```

## Indexes
B-trees keep keys sorted.

~~~
## nor is this
~~~

Hash indexes answer equality only.

### Hash internals ###

Buckets and overflow pages.

# Transactions

ACID in one line.

Setext Heading
--------------

Under a setext heading.
"""


def test_markdown_heading_paths_ignore_code_fences() -> None:
    doc = extract(MARKDOWN.encode(), "notes.md", "text/markdown")
    assert doc.format is DocumentFormat.MARKDOWN
    assert doc.title == "Databases 101"  # front matter wins over the first H1
    by_text = {s.text: s.location["heading_path"] for s in doc.sections}
    assert by_text["Intro paragraph before any heading."] == []
    assert by_text["Pages are 8 kB blocks."] == ["Storage"]
    code = next(s for s in doc.sections if "SELECT 1;" in s.text)
    assert code.location["heading_path"] == ["Storage"]
    assert "# this is not a heading" in code.text
    assert by_text["B-trees keep keys sorted."] == ["Storage", "Indexes"]
    assert by_text["Hash indexes answer equality only."] == ["Storage", "Indexes"]
    assert by_text["Buckets and overflow pages."] == ["Storage", "Indexes", "Hash internals"]
    assert by_text["ACID in one line."] == ["Transactions"]
    assert by_text["Under a setext heading."] == ["Transactions", "Setext Heading"]
    assert not any("author:" in s.text for s in doc.sections)
    flat = [h for s in doc.sections for h in s.location["heading_path"]]
    assert "nor is this" not in " ".join(flat) and "this is not a heading" not in " ".join(flat)


def test_markdown_line_numbers_point_at_the_block() -> None:
    doc = extract(MARKDOWN.encode(), "notes.md", None)
    lines = MARKDOWN.split("\n")
    for section in doc.sections:
        first_line = lines[section.location["line"] - 1]
        assert first_line.strip() and first_line.strip() in section.text


def test_markdown_title_is_first_h1_without_front_matter() -> None:
    doc = extract(b"# Query Planning\n\nThe planner picks a plan.\n", "plan.markdown", None)
    assert doc.title == "Query Planning"


# --------------------------------------------------------------------------- HTML

HTML = b"""<!DOCTYPE html>
<html><head><title>PG Notes</title><style>p { color: red }</style>
<script>var secret = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/next">Next chapter</a></nav>
<div class="navheader"><a href="a">Prev</a> <a href="b">Up</a> <a href="c">Next</a></div>
<h1>Concurrency Control</h1>
<p>PostgreSQL uses <b>MVCC</b> so readers do not block writers.</p>
<h2>Isolation</h2>
<ul><li>Read committed</li><li>Serializable</li></ul>
<pre>BEGIN ISOLATION LEVEL SERIALIZABLE;
  SELECT 1;</pre>
<table><tr><th>Level</th><th>Dirty read</th></tr><tr><td>Read committed</td><td>No</td></tr></table>
<h2>Locking</h2><div>Row locks are taken by <i>UPDATE</i>.<p>Advisory locks are application defined.</p></div>
<h1>Vacuum</h1><p>Reclaims dead tuples.</p>
<script>track()</script><noscript>enable js</noscript>
</body></html>"""


def test_html_heading_paths_and_dropped_chrome() -> None:
    doc = extract(HTML, "mvcc.html", "text/html; charset=utf-8")
    assert doc.format is DocumentFormat.HTML
    assert doc.title == "PG Notes"
    everything = doc.text
    for dropped in ("do not index", "Home", "Next chapter", "track()", "color: red", "enable js", "Prev"):
        assert dropped not in everything
    by_text = {s.text: s.location["heading_path"] for s in doc.sections}
    assert by_text["PostgreSQL uses MVCC so readers do not block writers."] == ["Concurrency Control"]
    assert by_text["Read committed"] == ["Concurrency Control", "Isolation"]
    assert by_text["Level | Dirty read\nRead committed | No"] == ["Concurrency Control", "Isolation"]
    pre = next(s for s in doc.sections if s.text.startswith("BEGIN"))
    assert pre.text == "BEGIN ISOLATION LEVEL SERIALIZABLE;\n  SELECT 1;"  # whitespace kept
    assert by_text["Row locks are taken by UPDATE."] == ["Concurrency Control", "Locking"]  # inline tags joined
    assert by_text["Advisory locks are application defined."] == ["Concurrency Control", "Locking"]
    assert by_text["Reclaims dead tuples."] == ["Vacuum"]


def test_html_is_sniffed_without_hints() -> None:
    doc = extract(HTML, "upload", None)
    assert doc.format is DocumentFormat.HTML


def test_postgresql_manual_page() -> None:
    doc = extract((PG_DOCS / "mvcc-intro.html").read_bytes(), "mvcc-intro.html", "text/html")
    assert doc.title == "13.1. Introduction"
    assert all(s.location["heading_path"] == ["13.1. Introduction"] for s in doc.sections)
    assert any("Multiversion Concurrency Control" in s.text for s in doc.sections)
    assert not any("Prev" in s.text and "Next" in s.text for s in doc.sections)  # DocBook nav dropped


# --------------------------------------------------------------------------- plain text


def test_plain_text_paragraphs() -> None:
    text = "First paragraph\nwraps here.\n\n\n\nSecond paragraph.\n   \nThird.\n"
    doc = extract(text.encode(), "notes.txt", "text/plain")
    assert doc.format is DocumentFormat.TEXT
    assert [s.text for s in doc.sections] == ["First paragraph\nwraps here.", "Second paragraph.", "Third."]
    assert locations(doc) == [{"paragraph": 1, "line": 1}, {"paragraph": 2, "line": 6}, {"paragraph": 3, "line": 8}]


def test_plain_text_encodings() -> None:
    assert extract("café au lait".encode("utf-16"), "a.txt", None).sections[0].text == "café au lait"
    assert extract("naïve résumé".encode("cp1252"), "a.txt", None).sections[0].text == "naïve résumé"
    assert extract("\ufeffdéjà vu".encode(), "a.txt", None).sections[0].text == "déjà vu"
    # ligatures and soft hyphens (common in PDF-derived text) are normalised
    assert extract("e\ufb03cient de\u00adsign".encode(), "a.txt", None).sections[0].text == "efficient design"


# --------------------------------------------------------------------------- captions

VTT = """WEBVTT - Lecture 3: Transactions

NOTE this comment is not text

00:00:01.000 --> 00:00:04.000
<v Prof. Smith>Welcome to lecture three.

intro
00:00:04.000 --> 00:00:08.500 align:start
Today we talk about <b>transactions</b>.

00:00:08.500 --> 00:00:09.000
Today we talk about transactions.

01:02:03.250 --> 01:02:07.000
An hour later.
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello <i>there</i>

2
00:01:02,000 --> 00:01:05,000
Second line
wrapped
"""


def test_vtt_cues() -> None:
    doc = extract(VTT.encode(), "lecture3.vtt", "text/vtt")
    assert doc.format is DocumentFormat.VTT
    assert doc.title == "Lecture 3: Transactions"
    assert [s.text for s in doc.sections] == [
        "Prof. Smith: Welcome to lecture three.",
        "Today we talk about transactions.",
        "An hour later.",
    ]
    first, repeated, late = locations(doc)
    assert first == {"start": "00:00:01.000", "end": "00:00:04.000", "start_seconds": 1.0, "end_seconds": 4.0}
    # a rolling caption repeated in the next cue is one section spanning both
    assert repeated["start"] == "00:00:04.000" and repeated["end"] == "00:00:09.000"
    assert late["start_seconds"] == pytest.approx(3723.25)
    assert late["start"] == "01:02:03.250"


def test_srt_cues() -> None:
    doc = extract(SRT.encode(), "lecture.srt", None)
    assert doc.format is DocumentFormat.SRT
    assert [s.text for s in doc.sections] == ["Hello there", "Second line wrapped"]
    assert locations(doc)[1] == {
        "start": "00:01:02.000",
        "end": "00:01:05.000",
        "start_seconds": 62.0,
        "end_seconds": 65.0,
    }


def test_caption_content_wins_over_a_wrong_extension() -> None:
    assert extract(VTT.encode(), "captions.txt", "text/plain").format is DocumentFormat.VTT
    assert extract(SRT.encode(), "captions.txt", "application/octet-stream").format is DocumentFormat.SRT


def test_malformed_vtt_is_corrupt() -> None:
    with pytest.raises(CorruptDocument):
        extract(b"this has no WEBVTT header\n\n00:01.000 --> 00:02.000\nhi\n", "x.vtt", "text/vtt")


# --------------------------------------------------------------------------- DOCX


def test_docx_heading_paths_and_tables() -> None:
    doc = extract(make_docx(), "course.docx", None)
    assert doc.format is DocumentFormat.DOCX
    assert doc.title == "Databases Course"  # the Title-styled paragraph
    assert [(s.text, s.location) for s in doc.sections] == [
        ("Preface: how to use these notes.", {"heading_path": []}),
        ("Relations are sets of tuples with a fixed schema.", {"heading_path": ["Week 1: Relational Model"]}),
        ("A primary key identifies each row uniquely.", {"heading_path": ["Week 1: Relational Model", "Keys"]}),
        ("Term | Meaning\nFK | Foreign key", {"heading_path": ["Week 1: Relational Model", "Keys"]}),
        ("SELECT retrieves rows from one or more tables.", {"heading_path": ["Week 2: SQL"]}),
    ]


def test_docx_is_detected_by_content() -> None:
    assert detect_format(make_docx(), "upload.bin", "application/octet-stream") is DocumentFormat.DOCX


def test_docx_without_text_is_empty() -> None:
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    with pytest.raises(EmptyDocument):
        extract(out.getvalue(), "blank.docx", None)


def test_docx_zip_bomb_is_refused_before_parsing() -> None:
    bomb = rezip(make_docx(), {"word/media/image1.bin": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 200_000  # 20 MiB of zeros deflate to almost nothing
    with pytest.raises(DocumentTooLarge) as info:
        extract(bomb, "bomb.docx", None)
    assert "compression ratio" in info.value.message


def test_docx_total_uncompressed_size_limit() -> None:
    import os

    noise = os.urandom(3 * 1024 * 1024)  # incompressible: the ratio check does not fire
    data = rezip(make_docx(), {"word/media/image1.bin": noise})
    with pytest.raises(DocumentTooLarge):
        extract(data, "big.docx", None, limits=ExtractionLimits(max_zip_uncompressed_bytes=2 * 1024 * 1024))
    assert extract(data, "big.docx", None).sections  # within the default limits


def test_damaged_docx_is_corrupt() -> None:
    data = make_docx()
    damaged = rezip(data, {})
    # overwrite word/document.xml with broken XML
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(damaged)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            payload = b"<w:document><unclosed" if info.filename == "word/document.xml" else src.read(info)
            dst.writestr(info.filename, payload)
    with pytest.raises(CorruptDocument):
        extract(out.getvalue(), "broken.docx", None)


def test_password_protected_docx() -> None:
    ooxml = pytest.importorskip("msoffcrypto.format.ooxml")
    source = ooxml.OOXMLFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    source.encrypt("pw", out)
    with pytest.raises(EncryptedDocument) as info:
        extract(out.getvalue(), "locked.docx", None)
    assert info.value.code == "encrypted_document"


# --------------------------------------------------------------------------- PPTX


def test_pptx_slides_with_notes() -> None:
    doc = extract(make_pptx(), "deck.pptx", None)
    assert doc.format is DocumentFormat.PPTX
    assert doc.title == "Normalization"
    assert locations(doc) == [
        {"slide": 1, "title": "Normalization"},
        {"slide": 2},
        {"slide": 4, "title": "Questions?"},
    ]
    first = doc.sections[0].text
    assert first.startswith("Normalization\n")
    assert "2NF: no partial dependencies" in first
    assert "Speaker notes: Remind students about homework three." in first
    assert doc.sections[1].text == "Functional dependencies determine keys."


def test_pptx_zip_bomb() -> None:
    bomb = rezip(make_pptx(), {"ppt/media/x.bin": b"A" * (30 * 1024 * 1024)})
    with pytest.raises(DocumentTooLarge):
        extract(bomb, "deck.pptx", None)


# --------------------------------------------------------------------------- failures


def test_unsupported_formats() -> None:
    with pytest.raises(UnsupportedFormat) as info:
        extract(make_png(), "diagram.png", "image/png")
    assert info.value.code == "unsupported_format"
    with pytest.raises(UnsupportedFormat):
        extract(make_png(), "diagram.pdf", "application/pdf")  # the bytes decide, not the name
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedFormat):
        extract(archive.getvalue(), "bundle.zip", None)
    with pytest.raises(UnsupportedFormat):  # legacy binary .doc (OLE2, not encrypted)
        extract(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.doc", None)
    with pytest.raises(UnsupportedFormat):
        extract(bytes(range(256)) * 8, "blob.dat", None)


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", b"\n\n# Heading only\n\n## Another\n"])
def test_empty_documents(data: bytes) -> None:
    with pytest.raises(EmptyDocument):
        extract(data, "empty.md", None)


def test_size_limit() -> None:
    data = b"word " * 1000
    with pytest.raises(DocumentTooLarge):
        extract(data, "a.txt", None, limits=ExtractionLimits(max_bytes=4000))
    assert extract(data, "a.txt", None, limits=ExtractionLimits(max_bytes=5000)).sections
    with pytest.raises(DocumentTooLarge):
        extract(data, "a.txt", None, limits=ExtractionLimits(max_text_chars=1000))


def test_error_hierarchy_and_codes() -> None:
    classes = [UnsupportedFormat, CorruptDocument, EncryptedDocument, EmptyDocument, DocumentTooLarge]
    codes = {cls.code for cls in classes}
    assert len(codes) == len(classes)
    assert ExtractionError.code not in codes
    for cls in classes:
        error = cls("readable message")
        assert isinstance(error, ExtractionError)
        assert str(error) == error.message == "readable message"


def test_content_type_and_extension_hints() -> None:
    text = b"# Title\n\nBody text.\n"
    assert detect_format(text, "notes.md", "text/plain") is DocumentFormat.MARKDOWN  # browsers say text/plain
    assert detect_format(text, "notes", "text/markdown") is DocumentFormat.MARKDOWN
    assert detect_format(text, "notes.txt", None) is DocumentFormat.TEXT
    assert detect_format(text, "notes", None) is DocumentFormat.TEXT
    assert detect_format(make_pdf(["x"]), "wrong-name.docx", "text/plain") is DocumentFormat.PDF


def test_pptx_group_shapes_and_tables() -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Join algorithms"
    group = slide.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(2), Inches(3), Inches(1))
    box.text_frame.text = "Text inside a group."
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    table.cell(0, 0).text = "Join"
    table.cell(0, 1).text = "Needs"
    table.cell(1, 0).text = "Merge"
    table.cell(1, 1).text = "Sorted inputs"
    out = io.BytesIO()
    deck.save(out)
    (section,) = extract(out.getvalue(), "joins.pptx", None).sections
    assert section.text == "Join algorithms\nText inside a group.\nJoin | Needs\nMerge | Sorted inputs"
    assert section.location == {"slide": 1, "title": "Join algorithms"}


def test_deeply_nested_html_does_not_crash() -> None:
    html = "<html><body><h1>Deep</h1>" + "<div>" * 5000 + "deep text" + "</div>" * 5000 + "</body></html>"
    doc = extract(html.encode(), "deep.html", None)
    assert [(s.text, s.location) for s in doc.sections] == [("deep text", {"heading_path": ["Deep"]})]
