"""Real course documents for the ingestion tests, built from pages of the PostgreSQL manual
(tests/fixtures/docs, PostgreSQL licence): PDF (fpdf2), DOCX (python-docx), PPTX (python-pptx),
WebVTT and SRT transcripts, Markdown and plain text carrying the same text."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "docs"


@dataclass(frozen=True)
class Page:
    title: str
    paragraphs: list[str]  # the page's body paragraphs, whitespace-collapsed


def manual_page(name: str) -> Page:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # DocBook XHTML, parsed as HTML on purpose
        soup = BeautifulSoup((DOCS / name).read_bytes(), "lxml")
    title = " ".join(soup.find("h2").get_text(" ").split())
    paras = [" ".join(p.get_text(" ").split()) for p in soup.find_all("p")]
    return Page(title, [p for p in paras if len(p) > 60])


def html_bytes(name: str) -> bytes:
    return (DOCS / name).read_bytes()


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def pdf(pages: list[list[str]], *, title: str = "Course notes", encrypt: bool = False) -> bytes:
    """One PDF page per entry of `pages` (each a list of paragraphs)."""
    from fpdf import FPDF

    doc = FPDF()
    doc.set_title(title)
    if encrypt:
        doc.set_encryption(owner_password="owner-secret", user_password="user-secret")
    doc.set_font("Helvetica", size=11)
    for paragraphs in pages:
        doc.add_page()
        for para in paragraphs:
            doc.multi_cell(0, 6, _latin1(para))
            doc.ln(3)
    return bytes(doc.output())


def docx(title: str, sections: list[tuple[str, list[str]]]) -> bytes:
    from docx import Document

    d = Document()
    d.core_properties.title = title
    d.add_heading(title, level=0)
    for heading, paragraphs in sections:
        d.add_heading(heading, level=1)
        for p in paragraphs:
            d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pptx(slides: list[tuple[str, list[str]]]) -> bytes:
    from pptx import Presentation

    prs = Presentation()
    layout = prs.slide_layouts[1]  # title and content
    for title, bullets in slides:
        slide = prs.slides.add_slide(layout)
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for b in bullets[1:]:
            body.add_paragraph().text = b
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def _ts(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def sentences(paragraphs: list[str]) -> list[str]:
    return [s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if len(s) > 20]


def vtt(lines: list[str], *, seconds_per_cue: float = 6.0) -> bytes:
    out = ["WEBVTT", ""]
    for i, line in enumerate(lines):
        out += [f"{_ts(i * seconds_per_cue, '.')} --> {_ts((i + 1) * seconds_per_cue, '.')}", line, ""]
    return "\n".join(out).encode()


def srt(lines: list[str], *, seconds_per_cue: float = 6.0) -> bytes:
    out = []
    for i, line in enumerate(lines):
        out += [str(i + 1), f"{_ts(i * seconds_per_cue, ',')} --> {_ts((i + 1) * seconds_per_cue, ',')}", line, ""]
    return "\n".join(out).encode()


def markdown(title: str, sections: list[tuple[str, list[str]]]) -> bytes:
    out = [f"# {title}", ""]
    for heading, paragraphs in sections:
        out += [f"## {heading}", ""]
        for p in paragraphs:
            out += [p, ""]
    return "\n".join(out).encode()


def text(paragraphs: list[str]) -> bytes:
    return "\n\n".join(paragraphs).encode()
