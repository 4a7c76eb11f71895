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
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, ClassVar

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


# --------------------------------------------------------------------------- errors


class ExtractionError(Exception):
    """Base class: the document cannot be turned into text. ``code`` is stable."""

    code: ClassVar[str] = "extraction_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnsupportedFormat(ExtractionError):
    code = "unsupported_format"


class CorruptDocument(ExtractionError):
    code = "corrupt_document"


class EncryptedDocument(ExtractionError):
    code = "encrypted_document"


class EmptyDocument(ExtractionError):
    code = "empty_document"


class DocumentTooLarge(ExtractionError):
    code = "document_too_large"


# --------------------------------------------------------------------------- model


class DocumentFormat(StrEnum):
    PDF = "pdf"
    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"
    VTT = "vtt"
    SRT = "srt"
    DOCX = "docx"
    PPTX = "pptx"


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text and where it is in the source document."""

    text: str
    location: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    sections: tuple[Section, ...]
    title: str
    format: DocumentFormat
    #: Non-fatal problems (e.g. a PDF page whose text could not be read).
    warnings: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    #: Input size in bytes.
    max_bytes: int = 50 * 1024 * 1024
    #: Pages read from a PDF; more is `DocumentTooLarge`.
    max_pdf_pages: int = 2000
    #: DOCX/PPTX: sum of the declared uncompressed sizes of the zip members.
    max_zip_uncompressed_bytes: int = 200 * 1024 * 1024
    #: DOCX/PPTX: uncompressed/compressed ratio of any member larger than 1 MiB,
    #: and of the archive as a whole.
    max_zip_compression_ratio: float = 100.0
    max_zip_members: int = 10_000
    #: Characters of extracted text (guards memory and embedding cost).
    max_text_chars: int = 20_000_000
    #: PDF: bytes one stream may decompress to (content streams, images, fonts; pypdf's default is
    #: 75 MB) and tokens one content stream may parse into (pypdf's default is 2,000,000: a
    #: dense real page has tens of thousands). Past either: `DocumentTooLarge`.
    max_pdf_stream_bytes: int = 20 * 1024 * 1024
    max_pdf_stream_tokens: int = 500_000


DEFAULT_LIMITS = ExtractionLimits()

_MIB = 1024 * 1024


# --------------------------------------------------------------------------- detection

_EXTENSIONS: dict[str, DocumentFormat] = {
    ".pdf": DocumentFormat.PDF,
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".mdown": DocumentFormat.MARKDOWN,
    ".mkd": DocumentFormat.MARKDOWN,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".xhtml": DocumentFormat.HTML,
    ".txt": DocumentFormat.TEXT,
    ".text": DocumentFormat.TEXT,
    ".vtt": DocumentFormat.VTT,
    ".webvtt": DocumentFormat.VTT,
    ".srt": DocumentFormat.SRT,
    ".docx": DocumentFormat.DOCX,
    ".pptx": DocumentFormat.PPTX,
}

#: Media type -> the format it names (also what ingestion accepts as a declared type).
CONTENT_TYPES: dict[str, DocumentFormat] = {
    "application/pdf": DocumentFormat.PDF,
    "application/x-pdf": DocumentFormat.PDF,
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
    "text/plain": DocumentFormat.TEXT,
    "text/vtt": DocumentFormat.VTT,
    "application/x-subrip": DocumentFormat.SRT,
    "text/srt": DocumentFormat.SRT,
    "text/x-srt": DocumentFormat.SRT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentFormat.DOCX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": DocumentFormat.PPTX,
}

_BINARY_FORMATS = frozenset({DocumentFormat.PDF, DocumentFormat.DOCX, DocumentFormat.PPTX})

# Binary signatures of formats we know we do not support, for a clear message.
_KNOWN_BINARY: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WAV/AVI/WebP)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!", "RAR archive"),
    (b"\x7fELF", "executable"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (b"{\\rtf", "RTF document"),
)

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Directory entry names in an OLE2 compound file are UTF-16LE.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

_SRT_START = re.compile(r"\A\s*\d+[ \t]*\r?\n[ \t]*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}[ \t]*-->", re.ASCII)
_HTML_START = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL
)


def _media_type(content_type: str | None) -> tuple[str | None, str | None]:
    """``"text/html; charset=utf-8"`` -> ``("text/html", "utf-8")``."""
    if not content_type:
        return None, None
    parts = [p.strip() for p in content_type.split(";")]
    media = parts[0].lower() or None
    charset = None
    for p in parts[1:]:
        key, _, value = p.partition("=")
        if key.strip().lower() == "charset" and value:
            charset = value.strip().strip('"').lower()
    return media, charset


def _hinted_format(filename: str, media: str | None) -> DocumentFormat | None:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    by_ext = _EXTENSIONS.get(suffix)
    by_type = CONTENT_TYPES.get(media) if media else None
    # Browsers send text/plain for .md and .vtt; a specific extension beats a generic type.
    if by_ext is not None and (by_type is None or by_type is DocumentFormat.TEXT):
        return by_ext
    return by_type or by_ext


def _zip_kind(data: bytes) -> DocumentFormat | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return None
    if "word/document.xml" in names:
        return DocumentFormat.DOCX
    if "ppt/presentation.xml" in names:
        return DocumentFormat.PPTX
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DocumentFormat.DOCX
        if any(n.startswith("ppt/") for n in names):
            return DocumentFormat.PPTX
    return None


def detect_format(data: bytes, filename: str = "", content_type: str | None = None) -> DocumentFormat:
    """Decide the format from the bytes first, then the extension, then the content type.

    Raises `UnsupportedFormat`, `EncryptedDocument` (password-protected Office file) or
    `CorruptDocument` (claims to be a PDF/DOCX/PPTX but the bytes are not one).
    """
    media, _ = _media_type(content_type)
    hinted = _hinted_format(filename, media)
    head = data[:2048]

    if b"%PDF-" in data[:1024]:
        return DocumentFormat.PDF
    if head.startswith(_ZIP_MAGICS):
        kind = _zip_kind(data)
        if kind is not None:
            return kind
        if hinted in (DocumentFormat.DOCX, DocumentFormat.PPTX):
            raise CorruptDocument(f"{filename or 'the file'} is not a readable {hinted.upper()} package")
        raise UnsupportedFormat("zip archives other than .docx and .pptx are not supported")
    if head.startswith(_OLE2_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise EncryptedDocument("the Office document is password-protected; upload it without a password")
        raise UnsupportedFormat("legacy Office formats (.doc, .ppt, .xls) are not supported; save it as .docx or .pptx")
    for magic, name in _KNOWN_BINARY:
        if head.startswith(magic):
            raise UnsupportedFormat(f"{name} files are not supported")
    if hinted in _BINARY_FORMATS:
        assert hinted is not None
        raise CorruptDocument(f"the file is named or typed as {hinted.upper()} but its content is not one")
    if _looks_binary(head):
        raise UnsupportedFormat("binary files of this type are not supported")

    text_head = _decode(head, None, strict=False).lstrip("\ufeff")
    if text_head.lstrip().startswith("WEBVTT"):
        return DocumentFormat.VTT
    if _SRT_START.match(text_head):
        return DocumentFormat.SRT
    if hinted is not None:
        return hinted
    if _HTML_START.match(text_head):
        return DocumentFormat.HTML
    return DocumentFormat.TEXT


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with BOM
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return len(head) > 0 and controls / len(head) > 0.05


def _decode(data: bytes, charset: str | None, *, strict: bool = True) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A head cut in the middle of a multi-byte character is still UTF-8.
        if not strict and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return data.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------- text hygiene

_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00ad": None,
        "\u200b": None,
        "\ufeff": None,
        "\x00": None,
    }
)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _clean(text: str) -> str:
    """NFC, ligatures and soft hyphens, collapsed spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text.translate(_LIGATURES))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def _inline(text: str) -> str:
    """Whitespace of any kind collapsed to single spaces (HTML inline text, headings)."""
    return " ".join(text.translate(_LIGATURES).split())


# Placeholder titles that authoring tools write into document properties.
_GENERIC_TITLES = frozenset(
    {
        "powerpoint presentation",
        "presentation",
        "document",
        "untitled",
        "slide 1",
        "microsoft word document",
        "word document",
    }
)


def _real_title(value: str | None) -> str | None:
    title = _inline(value or "")
    return title if title and title.lower() not in _GENERIC_TITLES else None


def _title_from_filename(filename: str) -> str:
    stem = PurePosixPath(filename.replace("\\", "/")).stem
    title = " ".join(re.sub(r"[_\-.]+", " ", stem).split())
    return title or "Untitled"


# --------------------------------------------------------------------------- entry point


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


# --------------------------------------------------------------------------- PDF


def _extract_pdf(data: bytes, limits: ExtractionLimits, warnings: list[str]) -> tuple[list[Section], str | None]:
    from pypdf import apply_configuration

    cap = limits.max_pdf_stream_bytes
    with apply_configuration(
        maximum_declared_stream_length=cap, array_based_stream_maximum_output_length=cap,
        zlib_maximum_output_length=cap, lzw_maximum_output_length=cap, run_length_maximum_output_length=cap,
        brotli_maximum_output_length=cap, jbig2_maximum_output_length=cap, image_maximum_buffer_size=cap,
        stream_decoding_work_maximum_length=4 * cap, stream_parsing_work_maximum_count=limits.max_pdf_stream_tokens,
    ):
        return _extract_pdf_bounded(data, limits, warnings)


def _too_large_pdf(limits: ExtractionLimits, where: str) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"the PDF is too large when decompressed: {where} exceeds {limits.max_pdf_stream_bytes / _MIB:.0f} MiB "
        f"or {limits.max_pdf_stream_tokens:,} content tokens"
    )


def _extract_pdf_bounded(data: bytes, limits: ExtractionLimits,
                         warnings: list[str]) -> tuple[list[Section], str | None]:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError, WrongPasswordError

    # pypdf raises its own errors for most damage, but deeply broken files can surface as
    # builtin exceptions from its parser; all of them mean "cannot read this PDF".
    parse_errors = (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        AssertionError,
        RecursionError,
        OSError,
        EOFError,
        UnicodeDecodeError,
        OverflowError,
        ZeroDivisionError,
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                # Owner-password-only PDFs (restrictions, no open password) decrypt with "".
                opened = reader.decrypt("")
            except (WrongPasswordError, FileNotDecryptedError, DependencyError, NotImplementedError) as exc:
                raise EncryptedDocument("the PDF is password-protected; upload it without a password") from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise EncryptedDocument("the PDF is password-protected; upload it without a password")
        page_count = len(reader.pages)
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise _too_large_pdf(limits, "its structure") from exc
    except parse_errors as exc:
        raise CorruptDocument("the PDF is damaged or not a PDF and cannot be read") from exc

    if page_count > limits.max_pdf_pages:
        raise DocumentTooLarge(f"the PDF has {page_count} pages; the limit is {limits.max_pdf_pages}")
    if page_count == 0:
        raise EmptyDocument("the PDF has no pages")

    pages: list[tuple[int, list[str]]] = []
    failed = 0
    chars = 0
    for number in range(1, page_count + 1):
        try:
            raw = reader.pages[number - 1].extract_text() or ""
        except LimitReachedError as exc:
            raise _too_large_pdf(limits, f"page {number}") from exc
        except parse_errors:
            failed += 1
            warnings.append(f"page {number}: text could not be extracted")
            continue
        lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        size = sum(len(_SPACES.sub(" ", line).strip()) for line in lines)
        if size:
            pages.append((number, lines))
            chars += size
            if chars > limits.max_text_chars:  # stop reading pages as soon as the answer is known
                raise DocumentTooLarge(
                    f"the document holds over {limits.max_text_chars:,} characters of text (by page {number})"
                )
    sections: list[Section] = []
    for number, lines in _strip_page_furniture(pages):
        text = _clean(_dehyphenate("\n".join(lines)))
        if text:
            sections.append(Section(text, {"page": number}))
    if failed == page_count:
        raise CorruptDocument("no page of the PDF could be read")

    title: str | None = None
    try:
        meta = reader.metadata
        if meta is not None and meta.title:
            title = _real_title(str(meta.title))
    except parse_errors:
        title = None
    return sections, title


# Page furniture: running headers/footers and page numbers at the top or bottom of pages.
_EDGE_LINES = 3
_DIGITS = re.compile(r"\d+")
# "Page 12", "p. 12", "Page 12 of 40", "12 of 40", "12 / 40": a page number whatever the page.
_PAGE_LABEL = re.compile(
    r"^(?:(?:page|p\.|pg\.?|seite)\s*\d{1,5}(?:\s*(?:of|/|von)\s*\d{1,5})?|\d{1,5}\s*(?:of|/)\s*\d{1,5})$",
    re.IGNORECASE,
)
# "12", "- 12 -", "(12)", "[12]", "xii": a page number when it follows the page sequence.
_BARE_NUMBER = re.compile("^[-\u2013\u2014(\\[]?\\s*(\\d{1,5}|[ivxlcdm]{1,8})\\s*[-\u2013\u2014)\\]]?$", re.IGNORECASE)
_END_NUMBER = re.compile(r"^(\d{1,5})\b|\b(\d{1,5})$")
_ROMAN = re.compile(r"^m{0,4}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$", re.IGNORECASE)
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
# A running line whose number changes from page to page ("Course notes — 3") is furniture only if it
# reads like one: several words, a "page", or a separator; "Exercise 3" on three pages is content.
_RUNNING_SEPARATORS = re.compile("[|\u2014\u2013\u00b7\u2022]|\\bpage\\b", re.IGNORECASE)


def _line_text(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _line_key(line: str) -> str:
    return _DIGITS.sub("#", unicodedata.normalize("NFKC", _line_text(line)).casefold())


def _page_number_value(line: str) -> tuple[str, int] | None:
    """("arabic", 12) for "- 12 -", ("roman", 12) for "xii"; None when the line is not a number."""
    m = _BARE_NUMBER.match(line)
    if m is None:
        return None
    token = m.group(1)
    if token.isdigit():
        return "arabic", int(token)
    if not _ROMAN.match(token):
        return None
    total = 0
    values = [_ROMAN_VALUES[c] for c in token.lower()]
    for i, value in enumerate(values):
        total += -value if i + 1 < len(values) and values[i + 1] > value else value
    return "roman", total


def _numbered_running_line(key: str) -> bool:
    """A line whose number changes between pages reads like a running header/footer: the number
    at one end ("Course notes — 3", "12 | Introduction") and several words or a separator."""
    at_an_end = key[:1] == "#" or key[-1:] == "#"
    return at_an_end and (len(key.split()) >= 3 or bool(_RUNNING_SEPARATORS.search(key)))


def _strip_page_furniture(pages: Sequence[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """Drop running headers/footers and page numbers from the top and bottom of each page.

    - A line within the first or last `_EDGE_LINES` lines of at least half of the pages (and at
      least 3), compared with its digits replaced, is a running header/footer. If its digits change
      between pages it must also read like one: the number at one end of the line, and 3+ words,
      "page" or a separator (| — · •); "Exercise 3" at the top of three pages is content. Such a
      numbered line is also a running header when its number follows the page index on at least
      two pages (a chapter's header: "Chapter 2: Parsing 3" on page 6, "... 4" on page 7).
    - "Page 12", "Page 12 of 40", "12 / 40" at an edge are page numbers.
    - "12", "- 12 -", "xii" at an edge are page numbers when the page sequence agrees: at least two
      pages carry a number at the same offset from their page index (or the PDF has one page).
    Lines are removed from each edge inwards only, at most `_EDGE_LINES` per edge.
    """
    # key (digits replaced) -> (pages it is on, its texts, offsets of its end number from the page
    # index); for the top and the bottom edge
    zones: tuple[dict[str, tuple[set[int], set[str], list[int]]], ...] = ({}, {})
    offsets: dict[tuple[str, int], int] = {}
    edges: list[list[tuple[int, str]]] = []
    for number, lines in pages:
        content = [(i, _line_text(line)) for i, line in enumerate(lines) if line.strip()]
        edges.append(content)
        for zone, seen in zip((content[:_EDGE_LINES], content[-_EDGE_LINES:]), zones, strict=True):
            for _, text in zone:
                on_pages, texts, shifts = seen.setdefault(_line_key(text), (set(), set(), []))
                on_pages.add(number)
                texts.add(text)
                end_number = _END_NUMBER.search(text)
                if end_number is not None:
                    shifts.append(int(end_number.group(1) or end_number.group(2)) - number)
        for _, text in {*content[:_EDGE_LINES], *content[-_EDGE_LINES:]}:
            value = _page_number_value(text)
            if value is not None:
                offset = (value[0], value[1] - number)
                offsets[offset] = offsets.get(offset, 0) + 1

    need = max(3, len(pages) // 2)
    running_top, running_bottom = (
        frozenset(
            key
            for key, (on_pages, texts, shifts) in seen.items()
            if any(ch.isalpha() for ch in key)
            and (
                (len(on_pages) >= need and (len(texts) == 1 or _numbered_running_line(key)))
                # a chapter's running header: its number follows the pages ("Chapter 2: Parsing 3", 4, ...)
                or (_numbered_running_line(key) and max(Counter(shifts).values(), default=0) >= 2)
            )
        )
        for seen in zones
    )
    single = len(pages) == 1

    def furniture(text: str, number: int, running: frozenset[str]) -> bool:
        if _line_key(text) in running or _PAGE_LABEL.match(text):
            return True
        value = _page_number_value(text)
        if value is None:
            return False
        kind, n = value
        return offsets.get((kind, n - number), 0) >= 2 or (single and n == number)

    result: list[tuple[int, list[str]]] = []
    for (number, lines), content in zip(pages, edges, strict=True):
        start, end = 0, len(content)
        while start < min(end, _EDGE_LINES) and furniture(content[start][1], number, running_top):
            start += 1
        while end > start and len(content) - end < _EDGE_LINES and furniture(content[end - 1][1], number,
                                                                             running_bottom):
            end -= 1
        if start < end:
            result.append((number, lines[content[start][0] : content[end - 1][0] + 1]))
    return result


_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")


def _dehyphenate(text: str) -> str:
    """Join words broken across lines by a hyphen ("infor-\\nmation")."""
    return _HYPHEN_BREAK.sub(r"\1\2", text)


# --------------------------------------------------------------------------- OOXML


def _check_zip(data: bytes, limits: ExtractionLimits) -> None:
    """Zip-bomb guard, before the document parser reads any part.

    1. The declared sizes (central directory): member count, total, compression ratios.
    2. The real sizes: every member's DEFLATE stream is inflated in bounded steps (at most 1 MiB of
       output held at a time) and counted; a member that inflates beyond its declared size is
       refused, so the declared total is a true bound. (The declared sizes alone are not a
       bound: CPython's ``ZipFile.read`` inflates a member's whole stream in one call before
       truncating it to the declared size, so a member declaring 2 KB that inflates to 1 GB costs
       1 GB of memory.)
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptDocument("the Office document's zip container is damaged") from exc
    if len(infos) > limits.max_zip_members:
        raise DocumentTooLarge(
            f"the document's package holds {len(infos)} parts; the limit is {limits.max_zip_members}"
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_zip_uncompressed_bytes:
        raise DocumentTooLarge(
            f"the document unpacks to {total / _MIB:.0f} MiB; the limit is "
            f"{limits.max_zip_uncompressed_bytes / _MIB:.0f} MiB"
        )
    for info in infos:
        if info.file_size > _MIB and info.file_size > limits.max_zip_compression_ratio * max(info.compress_size, 1):
            raise DocumentTooLarge(
                f"part {info.filename!r} has a compression ratio over {limits.max_zip_compression_ratio:.0f}:1 "
                "(possible zip bomb)"
            )
    if total > _MIB and total > limits.max_zip_compression_ratio * max(packed, 1):
        raise DocumentTooLarge(
            f"the document has a compression ratio over {limits.max_zip_compression_ratio:.0f}:1 (possible zip bomb)"
        )
    # Every member inflating to at most its declared size makes the declared total (checked above)
    # a true bound on what the parser will inflate.
    for info in infos:
        if _inflated_size(data, info, cap=info.file_size) > info.file_size:
            raise DocumentTooLarge(
                f"part {info.filename!r} is too large when decompressed: it inflates beyond the "
                f"{info.file_size:,} bytes it declares (possible zip bomb)"
            )


_INFLATE_STEP = _MIB


def _inflated_size(data: bytes, info: zipfile.ZipInfo, *, cap: int) -> int:
    """How many bytes `info`'s stored data inflates to, counting at most ``cap + 1`` (so a bomb is
    measured only up to the point where it is known to be one). Raises `CorruptDocument` for a
    member that cannot be located or decoded."""
    offset = info.header_offset
    header = data[offset:offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise CorruptDocument("the Office document's zip container is damaged")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_len + extra_len
    raw = memoryview(data)[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return len(raw)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise CorruptDocument(f"part {info.filename!r} uses a compression method Office documents do not use")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending: bytes | memoryview = raw
    try:
        while total <= cap:
            out = inflater.decompress(pending, _INFLATE_STEP)
            total += len(out)
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not out):
                break
    except zlib.error as exc:
        raise CorruptDocument(f"part {info.filename!r} of the Office document is damaged") from exc
    return total


def _ooxml_errors() -> tuple[type[BaseException], ...]:
    from lxml.etree import LxmlError

    return (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        EOFError,
        LxmlError,
        UnicodeDecodeError,
    )


_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def _docx_heading_level(paragraph: Any) -> int | None:
    """1-9 for headings, 0 for the Title style, None for body text."""
    from docx.oxml.ns import qn

    style = paragraph.style
    names = [getattr(style, "name", None), getattr(style, "style_id", None)] if style is not None else []
    for name in names:
        if not name:
            continue
        if name.lower() == "title":
            return 0
        m = _HEADING_STYLE.match(name)
        if m:
            return int(m.group(1))
    # Custom heading styles: an outline level on the paragraph or on its style chain.
    elements = [paragraph._p]
    seen = 0
    while style is not None and seen < 10:
        elements.append(style.element)
        style = style.base_style
        seen += 1
    for element in elements:
        ppr = element.find(qn("w:pPr"))
        if ppr is None:
            continue
        lvl = ppr.find(qn("w:outlineLvl"))
        if lvl is not None:
            try:
                value = int(lvl.get(qn("w:val")))
            except (TypeError, ValueError):
                return None
            return value + 1 if 0 <= value < 9 else None
    return None


def _extract_docx(data: bytes) -> tuple[list[Section], str | None]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    errors = _ooxml_errors()
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        core_title = document.core_properties.title
    except errors as exc:
        raise CorruptDocument("the Word document is damaged and cannot be read") from exc

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    title: str | None = _real_title(core_title)
    try:
        for block in blocks:
            if isinstance(block, Paragraph):
                text = _clean(block.text)
                if not text:
                    continue
                level = _docx_heading_level(block)
                if level == 0:
                    title = title or _inline(text)
                    continue
                if level is not None:
                    path = [(lv, t) for lv, t in path if lv < level] + [(level, _inline(text))]
                    continue
                sections.append(Section(text, {"heading_path": [t for _, t in path]}))
            elif isinstance(block, Table):
                text = _table_text([[cell.text for cell in row.cells] for row in block.rows])
                if text:
                    sections.append(Section(text, {"heading_path": [t for _, t in path]}))
    except errors as exc:
        raise CorruptDocument("the Word document is damaged and cannot be read") from exc
    if title is None and path:
        title = next((t for lv, t in path if lv == 1), None)
    return sections, title


def _table_text(rows: Iterable[Sequence[str]]) -> str:
    lines = []
    for row in rows:
        cells: list[str] = []
        for cell in row:
            value = _inline(cell)
            if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                cells.append(value)
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _extract_pptx(data: bytes) -> tuple[list[Section], str | None]:
    from pptx import Presentation

    errors = _ooxml_errors()
    sections: list[Section] = []
    first_title: str | None = None
    try:
        presentation = Presentation(io.BytesIO(data))
        core_title = presentation.core_properties.title
        for number, slide in enumerate(presentation.slides, start=1):
            title_shape = slide.shapes.title
            slide_title = _inline(title_shape.text_frame.text) if title_shape is not None else ""
            title_id = title_shape.shape_id if title_shape is not None else None
            parts: list[str] = [slide_title] if slide_title else []
            parts.extend(_pptx_shape_texts(slide.shapes, skip_id=title_id))
            if slide.has_notes_slide:
                notes_frame = slide.notes_slide.notes_text_frame
                notes = _clean(notes_frame.text) if notes_frame is not None else ""
                if notes:
                    parts.append(f"Speaker notes: {notes}")
            text = _clean("\n".join(parts))
            if not text:
                continue
            location: dict[str, Any] = {"slide": number}
            if slide_title:
                location["title"] = slide_title
                first_title = first_title or slide_title
            sections.append(Section(text, location))
    except errors as exc:
        raise CorruptDocument("the PowerPoint file is damaged and cannot be read") from exc
    return sections, _real_title(core_title) or first_title


def _pptx_shape_texts(shapes: Iterable[Any], *, skip_id: int | None) -> Iterator[str]:
    """Text of shapes in reading order (top to bottom, then left to right), groups included."""

    def position(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    from pptx.shapes.group import GroupShape

    for shape in sorted(shapes, key=position):
        if skip_id is not None and shape.shape_id == skip_id:
            continue
        if isinstance(shape, GroupShape):
            yield from _pptx_shape_texts(shape.shapes, skip_id=None)
        elif getattr(shape, "has_table", False) and shape.has_table:
            text = _table_text([[cell.text for cell in row.cells] for row in shape.table.rows])
            if text:
                yield text
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            text = _clean(shape.text_frame.text)
            if text:
                yield text


# --------------------------------------------------------------------------- Markdown

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)


def _extract_markdown(text: str) -> tuple[list[Section], str | None]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title: str | None = None
    start = 0
    # YAML front matter
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                m = _FRONT_MATTER_TITLE.search("\n".join(lines[1:i]))
                if m:
                    title = m.group(1).strip("'\"")
                start = i + 1
                break

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    block: list[str] = []
    block_line = 0
    fence: str | None = None

    def flush() -> None:
        nonlocal block
        body = _clean("\n".join(block)) if fence is None else "\n".join(block).strip("\n")
        if body.strip():
            sections.append(Section(body, {"heading_path": [t for _, t in path], "line": block_line}))
        block = []

    def set_heading(level: int, heading: str) -> None:
        nonlocal path, title
        heading = _inline(heading)
        if not heading:
            return
        path = [(lv, t) for lv, t in path if lv < level] + [(level, heading)]
        if level == 1 and title is None:
            title = heading

    for index in range(start, len(lines)):
        line = lines[index]
        number = index + 1
        if fence is not None:
            block.append(line)
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                flush()
                fence = None
            continue
        m = _FENCE.match(line)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            flush()
            fence = m.group(1)
            block = [line]
            block_line = number
            continue
        m = _ATX.match(line)
        if m:
            flush()
            set_heading(len(m.group(1)), m.group(2) or "")
            continue
        m = _SETEXT.match(line)
        if m and len(block) == 1 and not _is_list_or_quote(block[0]):
            heading = block[0]
            block = []
            set_heading(1 if m.group(1)[0] == "=" else 2, heading)
            continue
        if _THEMATIC_BREAK.match(line):
            flush()
            continue
        if not line.strip():
            flush()
            continue
        if not block:
            block_line = number
        block.append(line)
    flush()
    return sections, title


def _is_list_or_quote(line: str) -> bool:
    return bool(re.match(r"^ {0,3}(?:[-+*>]|\d+[.)])(?:\s|$)", line))


# --------------------------------------------------------------------------- HTML
#
# Documentation pages wrap their text in site chrome: navigation bars, sidebars holding the
# site's table of contents, breadcrumbs, prev/next links, footers, search boxes, version
# switchers, permalink marks after every heading. Only the main content is kept:
#
# 1. The root is the page's main element when it names one (the innermost ``[role=main]``,
#    else ``<main>``, else Sphinx's ``div.body``, else a single ``<article>``), else ``<body>``.
# 2. Chrome inside the root is dropped in one pass (`_chrome_strength`): tags (script, nav,
#    footer, aside, ...), ARIA roles, class names of well-known generators (Sphinx themes, DocBook,
#    MkDocs), permalink anchors and links acting on the page ("Edit this page"); then, more
#    cautiously, elements whose class or id words name chrome ("menu", "sidebar", "toc",
#    "footer", ...) unless they hold an h1.
# 3. Lists, tables and toctrees that are nothing but links (menus) are dropped, and "This page
#    last modified on <date>" lines.
# 4. The title is the ``<title>`` without the site's suffix (`_html_title`); headings repeating
#    the site's name (a banner before the page's own heading) are not part of any heading path.
# 5. The walk: headings make the heading path; ``<pre>`` is one section with its line breaks
#    (line-number gutters dropped); a table is one section, a row per line, cells joined by " | "
#    (a table with one non-empty cell, or one row, is layout: its cells are walked); a definition
#    term (``dt``), an admonition title or a short lead-in ending in ":" starts the next section
#    instead of standing alone.
# 6. A page left without text is read again keeping its link menus, then without any chrome
#    removal (a site's table of contents; a page wrapped in a "nav-wrapper").
# Every step is linear in the size of the page, however deep the markup (`_marked_ancestors`,
# `_outermost`, `_text_sizes`): bs4's find()/get_text() per tag would be quadratic.

_DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "head",
        "button",
        "select",
        "datalist",
        "input",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "menu",
        "ol",
        "p",
        "section",
        "summary",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "legend",
        "html",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
    }
)
_CHROME_ROLES = frozenset({"navigation", "banner", "search", "contentinfo", "doc-toc", "menu", "menubar"})
# Class names that are chrome wherever they appear (exact match, lower case).
_CHROME_CLASSES = frozenset(
    {
        # generic, DocBook
        "navheader",
        "navfooter",
        "navbar",
        "breadcrumb",
        "breadcrumbs",
        "toc",
        "skip-link",
        "sr-only",
        "visually-hidden",
        "visuallyhidden",
        "screen-reader-text",
        # Sphinx basic / classic / alabaster / nature / pydoctheme
        "sphinxsidebar",
        "sphinxsidebarwrapper",
        "related",
        "headerlink",
        "footer",
        "searchbox",
        "sourcelink",
        "this-page-menu",
        "viewcode-link",
        "viewcode-back",
        "mobile-nav",
        "version_switcher_placeholder",
        "inline-search",
        # sphinx_rtd_theme
        "wy-nav-side",
        "wy-nav-top",
        "wy-breadcrumbs",
        "wy-breadcrumbs-aside",
        "rst-footer-buttons",
        "rst-versions",
        "rst-breadcrumbs-buttons",
        # furo
        "sidebar-drawer",
        "toc-drawer",
        "content-icon-container",
        "edit-this-page",
        "view-this-page",
        "related-pages",
        "bottom-of-page",
        "mobile-header",
        "back-to-top",
        # pydata-sphinx-theme, sphinx-book-theme
        "bd-header",
        "bd-sidebar-primary",
        "bd-sidebar-secondary",
        "bd-header-article",
        "prev-next-area",
        "prev-next-footer",
        "bd-footer",
        "bd-footer-article",
        "bd-footer-content",
        "editthispage",
        "version-switcher__container",
        # MkDocs Material
        "md-header",
        "md-sidebar",
        "md-footer",
        "md-tabs",
        "md-source-file",
        # line-number gutters of highlighted code (Pygments, highlight.js)
        "linenos",
        "linenodiv",
        "lineno",
    }
)
# Words of class names and ids (split at "-" and "_") that name chrome. Weaker evidence than the
# classes above: an element holding an h1 is never dropped for them (it wraps the content).
_CHROME_WORDS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "menu",
        "mainmenu",
        "submenu",
        "menubar",
        "breadcrumb",
        "breadcrumbs",
        "sidebar",
        "footer",
        "toc",
        "search",
        "searchbox",
        "searchmenu",
        "tagline",
        "skiplink",
        "pager",
        "pagination",
        "prevnext",
        "prev",
        "next",
        "logo",
        "banner",
        "announcement",
        "cookie",
        "switcher",
        "edit",
        "related",
    }
)
# Class tokens that contain a chrome word but are content (docutils' sidebar directive).
_CONTENT_CLASS_TOKENS = frozenset({"sidebar-title", "sidebar-subtitle"})
# ``<aside>`` is chrome except what docutils renders as <aside> in the content.
_CONTENT_ASIDE_CLASSES = frozenset(
    {"footnote", "footnote-list", "citation", "citation-list", "topic", "sidebar", "admonition", "note",
     "warning", "tip", "seealso", "pull-quote", "epigraph", "highlights", "margin"}
)
# Elements whose id may name chrome (ids of sections and headings come from heading text).
_ID_CHROME_TAGS = frozenset({"div", "aside", "ul", "ol", "header", "footer", "p", "table", "form"})
_SECTION_CLASS = re.compile(r"^(?:sect|section|chapter|topic|admonition|refsect|simplesect)", re.IGNORECASE)
_WORD_SEP = re.compile(r"[-_]+")
# An anchor whose whole text is one of these is a permalink mark ("¶" after Sphinx headings).
_PERMALINK_MARKS = frozenset({"¶", "#", "§", "🔗", "⚓", "∞", "⚓\ufe0f", "🔗\ufe0f"})
_PERMALINK_TITLE = re.compile(r"^\s*(?:permalink|permanent link|link to this|direct link)", re.IGNORECASE)
_TRAILING_MARKS = re.compile(r"[\s\u200b]*[¶🔗⚓]+[\s\u200b\ufe0f]*$")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Blocks that label what follows them (definition terms, admonition and code-block titles).
_LABEL_CLASSES = frozenset({"admonition-title", "rubric", "title", "code-block-caption", "caption"})
_LEAD_IN_MAX = 120
# A footnote's or citation's mark ("[1]", "[Knuth84]") before its text.
_NOTE_MARK = re.compile(r"^\[[^\]\s]{1,12}\]$")
# Links that act on the page rather than say something: "Edit this page", "Show Source", ...
_ACTION_LINK = re.compile(
    r"^(?:(?:edit|view|show|suggest edits? (?:to|on))(?: this| the)? (?:page|source|file)(?: source)?"
    r"(?: on \w+)?|(?:edit|view) (?:on|in) (?:github|gitlab|bitbucket)|improve this page)$",
    re.IGNORECASE,
)
_LABEL_MAX = 400
# "This page last modified on 2022-12-14 11:53:20 UTC", "Last updated: Dec 20, 2023": a date follows.
_LAST_MODIFIED = re.compile(
    r"^(?:this page (?:was )?)?last (?:updated|modified|changed)(?:\s+on|\s+at)?:?\s+"
    r"(?:\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun).{0,50}$",
    re.IGNORECASE,
)
# Site-suffix separators in <title>: "Page — Project 3.2 documentation", "Models | Django docs".
_TITLE_SEPARATOR = re.compile("\\s+(?:\\||\u2014|\u2013|-{1,2}|::|\u00b7|\u00bb)\\s+")
_SITE_WORDS = re.compile(
    r"\b(?:documentation|docs?|manual|reference|guide|handbook|wiki|help|api)\b", re.IGNORECASE
)
_VERSION_OR_DOMAIN = re.compile(r"^(?:v?\d+(?:\.\d+)*\S*|[\w-]+(?:\.[\w-]+)+/?)$", re.IGNORECASE)


def _class_words(value: str) -> frozenset[str]:
    return frozenset(_WORD_SEP.split(value.lower()))


@lru_cache(maxsize=8192)
def _class_verdict(classes: tuple[str, ...]) -> int:
    """What a class attribute says: 2 chrome, 1 chrome by its words, 3 the same but "sidebar" (a
    docutils sidebar directive is content), 0 nothing."""
    lowered = frozenset(c.lower() for c in classes)
    if not _CHROME_CLASSES.isdisjoint(lowered):
        return 2
    if "contents" in lowered and ("topic" in lowered or "local" in lowered):  # docutils' local TOC
        return 2
    for cls in lowered:
        if cls not in _CONTENT_CLASS_TOKENS and not _CHROME_WORDS.isdisjoint(_class_words(cls)):
            return 3 if "sidebar" in lowered else 1
    return 0


@lru_cache(maxsize=8192)
def _id_verdict(ident: str) -> bool:
    return not _CHROME_WORDS.isdisjoint(_class_words(ident))


def _chrome_strength(tag: Any, quoted: set[int]) -> int:
    """2: chrome for sure; 1: chrome by its class/id words (kept if it holds an h1); 0: content.
    ``quoted``: ids of the tags inside a blockquote or figure."""
    name = tag.name
    if name in _DROP_TAGS:
        return 2
    attrs = tag.attrs
    if name == "footer":  # <blockquote><footer>— Author</footer></blockquote> is content
        return 0 if id(tag) in quoted else 2
    if name == "aside" and _CONTENT_ASIDE_CLASSES.isdisjoint(c.lower() for c in attrs.get("class") or ()):
        return 2
    if name == "a" and _is_permalink(tag):
        return 2
    if not attrs:
        return 0
    if "hidden" in attrs or attrs.get("aria-hidden") == "true" or attrs.get("role") in _CHROME_ROLES:
        return 2
    classes = attrs.get("class")
    verdict = _class_verdict(tuple(classes)) if classes else 0
    if verdict == 3:
        verdict = 0 if tag.find(class_="sidebar-title") is not None else 1
    if verdict:
        return verdict
    ident = attrs.get("id")
    if (
        isinstance(ident, str)
        and name in _ID_CHROME_TAGS
        and _id_verdict(ident)
        and not any(_SECTION_CLASS.match(c) for c in classes or ())
    ):
        return 1
    return 0


def _is_permalink(tag: Any) -> bool:
    """A permalink mark ("¶" after a heading) or a link acting on the page ("Edit this page")."""
    title = tag.attrs.get("title")
    if isinstance(title, str) and (_PERMALINK_TITLE.match(title) or _ACTION_LINK.match(title.strip())):
        return True
    text = tag.get_text().replace("\u200b", "").strip()
    return text in _PERMALINK_MARKS or (len(text) < 40 and bool(_ACTION_LINK.match(" ".join(text.split()))))


def _gone(tag: Any) -> bool:
    """Decomposed already (as part of an ancestor). Not ``tag.decomposed``: on a decomposed tag
    bs4's attribute lookup falls back to ``find()``, a search of the subtree, for every check."""
    return bool(tag.__dict__.get("_decomposed"))


def _text_sizes(tops: Iterable[Any]) -> dict[int, list[int]]:
    """id(tag) -> [characters, strings, characters inside links, links] of the text of the tags in
    ``tops``' subtrees, in one bottom-up pass each (per-tag ``get_text`` is quadratic on nested
    markup). Characters count as ``_inline(tag.get_text(" "))`` does: each string's words, one
    space between strings."""
    from bs4 import NavigableString, Tag

    sizes: dict[int, list[int]] = {}
    for top in tops:
        for node in reversed([top, *top.descendants]):
            kind = type(node)
            if kind is NavigableString:  # not its subclasses: comments, doctypes, CDATA, ...
                n = len(" ".join(node.split()))
                if n:
                    acc = sizes.setdefault(id(node.parent), [0, 0, 0, 0])
                    acc[0] += n
                    acc[1] += 1
                continue
            if kind is not Tag and not isinstance(node, Tag):
                continue
            own = sizes.get(id(node))
            if node.name == "a":
                own = own or [0, 0, 0, 0]
                own[2] = own[0] + max(own[1] - 1, 0)
                own[3] += 1
                sizes[id(node)] = own
            if own and node is not top:
                acc = sizes.setdefault(id(node.parent), [0, 0, 0, 0])
                for i in range(4):
                    acc[i] += own[i]
    return sizes


def _is_link_menu(tag: Any, sizes: dict[int, list[int]]) -> bool:
    """A list/table/block that is nothing but several links (a menu, a link farm)."""
    chars, strings, linked, links = sizes.get(id(tag)) or (0, 0, 0, 0)
    text = chars + max(strings - 1, 0)
    return links >= 3 and text > 0 and linked / text >= 0.9


def _marked_ancestors(nodes: Iterable[Any], stop: Any) -> set[int]:
    """ids of the proper ancestors of ``nodes`` (up to ``stop``, excluded). Linear: a walk up ends
    at an ancestor already marked."""
    marked: set[int] = set()
    for node in nodes:
        parent = node.parent
        while parent is not None and parent is not stop and id(parent) not in marked:
            marked.add(id(parent))
            parent = parent.parent
    return marked


def _main_root(soup: Any, tags: Sequence[Any]) -> Any:
    """The element holding the page's main content (see the rules above), else the body.
    ``tags``: every tag of ``soup`` in document order."""
    by_role: list[Any] = []
    mains: list[Any] = []
    bodies: list[Any] = []
    articles: list[Any] = []
    for tag in tags:
        name = tag.name
        if name not in ("main", "div", "article"):
            continue
        if tag.attrs.get("role") == "main":
            by_role.append(tag)
        elif name == "main":
            mains.append(tag)
        elif name == "div" and "body" in (tag.attrs.get("class") or ()):
            bodies.append(tag)
        elif name == "article":
            articles.append(tag)
    for candidates in (by_role, mains, bodies, articles if len(articles) == 1 else []):
        if not candidates:
            continue
        inner = candidates
        if len(candidates) > 1:  # the innermost: drop a candidate that contains another one
            outer = _marked_ancestors(candidates, None)
            inner = [c for c in candidates if id(c) not in outer]
        if len(inner) == 1 and inner[0].get_text().strip():
            return inner[0]
        if len(inner) > 1:
            break  # several disjoint main regions: keep them all
    return soup.body or soup


def _text_of(tag: Any) -> str:
    """The inline text of ``tag``: strings joined as written, a space where a block or <br> starts."""
    from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
                parts.append(str(node))
        elif node.name in _BLOCK_TAGS or node.name == "br":
            parts.append(" ")
    return _TRAILING_MARKS.sub("", _inline("".join(parts)))


def _html_title(raw: str | None, headings: Sequence[str]) -> tuple[str | None, frozenset[str]]:
    """The page's title without the site's suffix, and the (lower-cased) site parts removed.

    "Models | Django documentation | Django" with an h1 "Models" -> "Models". Else trailing
    " | ", " — ", en dash, " - ", " :: " segments naming the site (a word like documentation, docs,
    manual, reference, guide; a version; a domain; or a part of another such segment) are removed,
    and "Site docs | Page" where "Page" is a heading of the page gives "Page". Never empty: the
    first segment always stays.
    """
    title = _inline(raw or "")
    if not title:
        return (headings[0] if headings else None), frozenset()
    lowered = title.lower()
    for heading in headings:
        if lowered.startswith(heading.lower()):
            rest = title[len(heading):]
            if not rest.strip():
                return heading, frozenset()
            m = _TITLE_SEPARATOR.match(rest)
            if m:
                return heading, frozenset(s.lower() for s in _TITLE_SEPARATOR.split(rest[m.end():]) if s)
    parts = _TITLE_SEPARATOR.split(title)  # no capturing group: the segments only
    if len(parts) < 2 or not all(parts):
        return title, frozenset()
    named = [bool(_SITE_WORDS.search(s) or _VERSION_OR_DOMAIN.match(s)) for s in parts]
    site_like = [
        named[i] or any(named[j] and j != i and seg.lower() in parts[j].lower() for j in range(1, len(parts)))
        for i, seg in enumerate(parts)
    ]
    for heading in headings:  # "Project docs | Page"
        for i, seg in enumerate(parts):
            if seg.lower() == heading.lower() and not site_like[i]:
                return seg, frozenset(s.lower() for j, s in enumerate(parts) if j != i)
    keep = len(parts)
    while keep > 1 and site_like[keep - 1]:
        keep -= 1
    if keep == len(parts):
        return title, frozenset()
    # The kept text ends where the segment after the last kept one starts.
    head, cut = title, 0
    for _ in range(keep):
        m = _TITLE_SEPARATOR.search(title, cut)
        assert m is not None
        head, cut = title[: m.start()], m.end()
    return head, frozenset(s.lower() for s in parts[keep:])


def _table_rows(table: Any) -> list[list[Any]]:
    """The cells of ``table``'s own rows (not those of nested tables)."""

    def cells(row: Any) -> list[Any]:
        return [c for c in row.children if getattr(c, "name", None) in ("td", "th")]

    rows = []
    for child in table.children:
        name = getattr(child, "name", None)
        if name == "tr":
            rows.append(cells(child))
        elif name in ("thead", "tbody", "tfoot"):
            rows.extend(cells(row) for row in child.children if getattr(row, "name", None) == "tr")
    return rows


def _parse_html(data: bytes, charset: str | None) -> Any:
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    try:
        with warnings.catch_warnings():
            # XHTML (e.g. DocBook output) is parsed as HTML on purpose: same tree for our use.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            return BeautifulSoup(data, "lxml", from_encoding=charset)
    except Exception as exc:  # any parser failure means unreadable HTML
        raise CorruptDocument("the HTML could not be parsed") from exc


def _extract_html(data: bytes, charset: str | None) -> tuple[list[Section], str | None]:
    sections, title = _html_sections(_parse_html(data, charset), menus=True, chrome=True)
    # A page that is nothing but links (a site's table of contents) keeps its links; one that
    # looked like chrome all over (wrapped in a "nav-wrapper", say) is read whole.
    if not sections:
        sections, title = _html_sections(_parse_html(data, charset), menus=False, chrome=True)
    if not sections:
        sections, title = _html_sections(_parse_html(data, charset), menus=False, chrome=False)
    return sections, title


def _drop_chrome(soup: Any, *, drop_menus: bool) -> tuple[Any, dict[int, list[int]]]:
    """The main content's root, with its chrome (and link menus) decomposed; and text sizes."""
    # Passes over a list of the tags in Python (CSS selectors via soupsieve, and find_all with
    # several names, are 5-10x slower on large pages); nothing here is quadratic on deep markup.
    tags = soup.find_all(True)
    root: Any = _main_root(soup, tags)
    if root is not soup and root is not soup.body:
        tags = root.find_all(True)
    holds_h1 = _marked_ancestors((t for t in tags if t.name == "h1"), root)
    quoted: set[int] = set()
    for tag in tags:  # document order: a parent before its children
        parent = tag.parent
        if parent is not None and (id(parent) in quoted or parent.name in ("blockquote", "figure")):
            quoted.add(id(tag))
    doomed = []
    for tag in tags:
        strength = _chrome_strength(tag, quoted)
        if strength == 2 or (strength == 1 and tag.name != "h1" and id(tag) not in holds_h1):
            doomed.append(tag)
    for tag in doomed:
        if not _gone(tag):
            tag.decompose()
    # Text sizes of the menu-like blocks (lists, tables, toctrees), each counted once.
    menus = [tag for tag in tags if not _gone(tag) and _menu_like(tag)]
    sizes = _text_sizes(_outermost(menus))
    for tag in menus if drop_menus else ():
        if not _gone(tag) and _is_link_menu(tag, sizes):
            tag.decompose()
    return root, sizes


def _menu_like(tag: Any) -> bool:
    name = tag.name
    return name in ("ul", "ol", "table") or (name == "div" and "toctree-wrapper" in (tag.attrs.get("class") or ()))


def _outermost(tags: Sequence[Any]) -> list[Any]:
    """The tags (given in document order) that are not inside another of them. Linear: each
    ancestor is looked at once."""
    ids = {id(t) for t in tags}
    under: dict[int, bool] = {}  # id(node) -> the node is, or is inside, one of the tags
    outer: list[Any] = []
    for tag in tags:
        path: list[Any] = []
        node = tag.parent
        while node is not None and id(node) not in under:
            path.append(node)
            node = node.parent
        flag = node is not None and under[id(node)]
        for ancestor in reversed(path):
            flag = flag or id(ancestor) in ids
            under[id(ancestor)] = flag
        if not flag:
            outer.append(tag)
        under[id(tag)] = True
    return outer


def _html_sections(soup: Any, *, menus: bool, chrome: bool) -> tuple[list[Section], str | None]:
    """The walk over the page (see the rules above). ``menus``/``chrome``: drop link menus / the
    chrome; without chrome only scripts, styles and the like go."""
    from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

    title_tag = soup.find("title")
    raw_title = title_tag.get_text() if title_tag is not None else None
    if not chrome:
        root: Any = soup.body or soup
        for tag in root.find_all(True):
            if not _gone(tag) and tag.name in _DROP_TAGS:
                tag.decompose()
        sizes = _text_sizes(_outermost([tag for tag in root.find_all("table") if not _gone(tag)]))
    else:
        root, sizes = _drop_chrome(soup, drop_menus=menus)

    top = [_text_of(h) for h in root.find_all("h1", limit=5)] or [_text_of(h) for h in root.find_all("h2", limit=5)]
    title, site_parts = _html_title(raw_title, [h for h in top if h])

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    label: list[str] = []  # a term/title/lead-in waiting to start the next section
    seen_heading = False
    skip_strings = (Comment, Declaration, Doctype, ProcessingInstruction)

    def heading_path() -> list[str]:
        return [t for _, t in path]

    def emit(text: str) -> None:
        if not path and not label and title and text.lower() == title.lower():
            return  # the page's title shown as text (not a heading) before the first heading
        if label:
            text = "\n".join([*label, text])
            label.clear()
        sections.append(Section(text, {"heading_path": heading_path()}))

    def emit_label(*, followed: bool = False) -> None:
        # Short lead-ins followed by nothing (the labels of dropped diagrams, a lone "Example:")
        # say nothing; a sentence ending in ":" before a heading stays.
        if not label:
            return
        bare = all(t.endswith(":") and len(t) <= 40 for t in label) and (len(label) > 1 or " " not in label[0])
        if followed or not bare:
            sections.append(Section("\n".join(label), {"heading_path": heading_path()}))
        label.clear()

    def flush(as_label: bool = False) -> None:
        text = _inline("".join(buffer))
        buffer.clear()
        if not text or _LAST_MODIFIED.match(text):
            return
        if as_label or (len(text) <= _LEAD_IN_MAX and text.endswith(":")) or _NOTE_MARK.match(text):
            text = _TRAILING_MARKS.sub("", text)
            if sum(len(t) for t in label) + len(text) > _LABEL_MAX:
                emit_label()
            if text:
                label.append(text)
            return
        emit(text)

    # Iterative walk (a stack of child iterators): arbitrarily deep markup cannot overflow.
    # Each entry: (children, flush when leaving, the block labels what follows).
    stack: list[tuple[Iterator[Any], bool, bool]] = [(iter(root.children), False, False)]
    while stack:
        children, flush_on_exit, is_label = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if flush_on_exit:
                flush(is_label)
            continue
        if isinstance(child, NavigableString):
            if not isinstance(child, skip_strings):
                buffer.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _HEADINGS:
            flush()
            heading = _text_of(child)
            if not heading:
                continue
            if not seen_heading and heading.lower() in site_parts:
                continue  # the site's banner ("Project 3.2 documentation") before the page's heading
            seen_heading = True
            emit_label()
            level = _HEADINGS[name]
            path = [(lv, t) for lv, t in path if lv < level] + [(level, heading)]
            if title is None and level == 1:
                title = heading
        elif name == "pre":
            flush()
            text = child.get_text().strip("\n")
            if text.strip():
                # The label stays a section of its own: a block that fits a chunk alone must not
                # grow past it (chunking packs the two together when they fit).
                emit_label(followed=True)
                emit(text.rstrip())
        elif name == "table":
            flush()
            rows = _table_rows(child)
            filled = [cell for row in rows for cell in row if sizes.get(id(cell), (0,))[0]]
            if not rows:  # no rows of its own (malformed markup): read it as a block
                stack.append((iter(child.children), True, False))
                continue
            if len(filled) == 1:  # layout (e.g. a highlighted code block with line numbers)
                stack.append((iter(filled[0].children), True, False))
                continue
            if len(rows) == 1:  # layout too (e.g. asciidoc's admonitions: an icon cell, a text cell)
                stack.append((iter(filled), False, False))
                continue
            text = _table_text([[_text_of(cell) for cell in row] for row in rows])
            caption = next((c for c in child.children if getattr(c, "name", None) == "caption"), None)
            if caption is not None and _text_of(caption):
                label.append(_text_of(caption))
            if text:
                emit(text)
        elif name == "br":
            buffer.append("\n")
        else:
            block = name in _BLOCK_TAGS
            if block:
                flush()
            labels = block and (
                name == "dt" or not _LABEL_CLASSES.isdisjoint(child.attrs.get("class") or ())
            )
            stack.append((iter(child.children), block, labels))
    flush()
    emit_label()
    return sections, title


# --------------------------------------------------------------------------- plain text


def _extract_text(text: str) -> list[Section]:
    sections: list[Section] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    block: list[str] = []
    block_line = 0
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            if not block:
                block_line = number
            block.append(line)
        elif block:
            body = _clean("\n".join(block))
            if body:
                sections.append(Section(body, {"paragraph": len(sections) + 1, "line": block_line}))
            block = []
    return sections


# --------------------------------------------------------------------------- captions

_VOICE = re.compile(r"<v(?:\.[\w-]+)*[ \t]+([^>]+?)\s*>")


def _timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _extract_captions(text: str, fmt: DocumentFormat) -> tuple[list[Section], str | None]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_buffer(io.StringIO(text), format="vtt" if fmt is DocumentFormat.VTT else "srt")
    except (MalformedFileError, MalformedCaptionError, ValueError, IndexError) as exc:
        raise CorruptDocument(f"the {fmt.upper()} captions are malformed") from exc

    title: str | None = None
    header = getattr(captions, "header_text", None) or ""
    if fmt is DocumentFormat.VTT and header:
        title = header.strip().lstrip("-").strip() or None

    sections: list[Section] = []
    cues: list[tuple[int, int, str]] = []
    for caption in captions.captions:
        voice = _VOICE.search(caption.raw_text)
        body = _inline(caption.text)
        if not body:
            continue
        if voice:
            body = f"{_inline(voice.group(1))}: {body}"
        start, end = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        if cues and cues[-1][2] == body:
            # Rolling captions repeat a line across cues: extend instead of duplicating.
            cues[-1] = (cues[-1][0], max(end, cues[-1][1]), body)
            continue
        cues.append((start, end, body))
    for start, end, body in cues:
        sections.append(
            Section(
                body,
                {
                    "start": _timestamp(start),
                    "end": _timestamp(end),
                    "start_seconds": start / 1000.0,
                    "end_seconds": end / 1000.0,
                },
            )
        )
    return sections, title
