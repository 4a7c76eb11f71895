"""Text extraction with location metadata, for course material uploaded by instructors.

`extract(data, filename, content_type)` returns an `ExtractedDocument`: an ordered tuple of
`Section(text, location)` plus a title and the detected `DocumentFormat`.

Location metadata by format:

=========  ============================================================================
PDF        ``{"page": n}`` (1-based)
Markdown   ``{"heading_path": ["H1", "H2", ...], "line": n}`` (line of the block, 1-based)
HTML       ``{"heading_path": [...]}``
DOCX       ``{"heading_path": [...]}`` (from "Heading n" styles / outline levels)
PPTX       ``{"slide": n}`` plus ``"title"`` when the slide has a title; notes included
Text       ``{"paragraph": n, "line": n}`` (1-based)
VTT / SRT  ``{"start": "HH:MM:SS.mmm", "end": ..., "start_seconds": s, "end_seconds": s}``
=========  ============================================================================

Every failure is an `ExtractionError` subclass with a stable ``code``; callers branch on
the type or the code, never on the message. All of them are permanent: retrying the same
bytes gives the same result.

Modules: `model` (the result), `errors`, `limits`, `detect` (format detection, decoding), `common`
(text hygiene), one module per format (`pdf`, `docx`, `pptx` with `ooxml`'s zip-bomb guard,
`html` with `html_chrome`, `markdown`, `plaintext`, `captions`). Parsers (pypdf, python-docx,
python-pptx, BeautifulSoup/lxml, webvtt-py) are imported when a document of theirs is read.
"""

from __future__ import annotations

from smartcourse.ai.extract.captions import _extract_captions
from smartcourse.ai.extract.common import _inline, _title_from_filename
from smartcourse.ai.extract.detect import CONTENT_TYPES as CONTENT_TYPES
from smartcourse.ai.extract.detect import _decode, _media_type, detect_format
from smartcourse.ai.extract.docx import _extract_docx
from smartcourse.ai.extract.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ExtractionError,
    UnsupportedFormat,
)
from smartcourse.ai.extract.html import _extract_html
from smartcourse.ai.extract.limits import _MIB, DEFAULT_LIMITS, ExtractionLimits
from smartcourse.ai.extract.markdown import _extract_markdown
from smartcourse.ai.extract.model import DocumentFormat, ExtractedDocument, Section
from smartcourse.ai.extract.ooxml import _check_zip
from smartcourse.ai.extract.pdf import _extract_pdf
from smartcourse.ai.extract.plaintext import _extract_text
from smartcourse.ai.extract.pptx import _extract_pptx

__all__ = [
    "DEFAULT_LIMITS",
    "CorruptDocument",
    "DocumentFormat",
    "DocumentTooLarge",
    "EmptyDocument",
    "EncryptedDocument",
    "ExtractedDocument",
    "ExtractionError",
    "ExtractionLimits",
    "Section",
    "UnsupportedFormat",
    "detect_format",
    "extract",
]


def extract(
    data: bytes,
    filename: str,
    content_type: str | None = None,
    *,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> ExtractedDocument:
    """Extract the text of ``data`` as located sections. Raises `ExtractionError` subclasses."""
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(
            f"the file is {len(data) / _MIB:.1f} MiB; the limit is {limits.max_bytes / _MIB:.1f} MiB"
        )
    if not data.strip():
        raise EmptyDocument("the file is empty")
    fmt = detect_format(data, filename, content_type)
    _, charset = _media_type(content_type)

    title: str | None
    warnings: list[str] = []
    if fmt is DocumentFormat.PDF:
        sections, title = _extract_pdf(data, limits, warnings)
    elif fmt is DocumentFormat.DOCX:
        _check_zip(data, limits)
        sections, title = _extract_docx(data)
    elif fmt is DocumentFormat.PPTX:
        _check_zip(data, limits)
        sections, title = _extract_pptx(data)
    elif fmt is DocumentFormat.HTML:
        sections, title = _extract_html(data, charset)
    else:
        text = _decode(data, charset)
        if fmt is DocumentFormat.MARKDOWN:
            sections, title = _extract_markdown(text)
        elif fmt in (DocumentFormat.VTT, DocumentFormat.SRT):
            sections, title = _extract_captions(text, fmt)
        else:
            sections, title = _extract_text(text), None

    kept = tuple(s for s in sections if s.text.strip())
    if not kept:
        hint = " (a scanned PDF has no text layer; OCR is not supported)" if fmt is DocumentFormat.PDF else ""
        raise EmptyDocument(f"no text could be extracted from the {fmt.upper()} file{hint}")
    total = sum(len(s.text) for s in kept)
    if total > limits.max_text_chars:
        raise DocumentTooLarge(
            f"the document holds {total:,} characters of text; the limit is {limits.max_text_chars:,}"
        )
    return ExtractedDocument(
        sections=kept,
        title=_inline(title or "") or _title_from_filename(filename),
        format=fmt,
        warnings=tuple(warnings),
    )
