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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
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

    sections: list[Section] = []
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
        text = _clean(_dehyphenate(raw))
        if text:
            sections.append(Section(text, {"page": number}))
            chars += len(text)
            if chars > limits.max_text_chars:  # stop reading pages as soon as the answer is known
                raise DocumentTooLarge(
                    f"the document holds over {limits.max_text_chars:,} characters of text (by page {number})"
                )
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

_DROP_TAGS = (
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
    }
)
# Navigation chrome: ARIA roles, and class names used by common generators (DocBook's
# navheader/navfooter/toc, breadcrumb trails, skip links).
_CHROME_ROLES = frozenset({"navigation", "banner", "search"})
_CHROME_CLASSES = frozenset({"navheader", "navfooter", "navbar", "breadcrumb", "breadcrumbs", "toc", "skip-link"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def _extract_html(data: bytes, charset: str | None) -> tuple[list[Section], str | None]:
    from bs4 import (
        BeautifulSoup,
        Comment,
        Declaration,
        Doctype,
        NavigableString,
        ProcessingInstruction,
        Tag,
        XMLParsedAsHTMLWarning,
    )

    try:
        with warnings.catch_warnings():
            # XHTML (e.g. DocBook output) is parsed as HTML on purpose: same tree for our use.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            soup = BeautifulSoup(data, "lxml", from_encoding=charset)
    except Exception as exc:  # any parser failure means unreadable HTML
        raise CorruptDocument("the HTML could not be parsed") from exc

    title_tag = soup.find("title")
    title: str | None = _inline(title_tag.get_text()) if title_tag is not None else None
    # One pass (CSS selectors via soupsieve are ~10x slower on large pages).
    doomed = [tag for tag in soup.find_all(True) if _is_chrome(tag)]
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(["ul", "ol", "table"]):
        if not tag.decomposed and _is_link_menu(tag):
            tag.decompose()

    mains = soup.find_all("main")
    root: Any = mains[0] if len(mains) == 1 else (soup.body or soup)

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    skip_strings = (Comment, Declaration, Doctype, ProcessingInstruction)

    def flush() -> None:
        text = _inline("".join(buffer))
        buffer.clear()
        if text:
            sections.append(Section(text, {"heading_path": [t for _, t in path]}))

    # Iterative walk (a stack of child iterators): arbitrarily deep markup cannot overflow.
    stack: list[tuple[Iterator[Any], bool]] = [(iter(root.children), False)]
    while stack:
        children, flush_on_exit = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if flush_on_exit:
                flush()
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
            heading = _inline(child.get_text(" "))
            if heading:
                level = _HEADINGS[name]
                path = [(lv, t) for lv, t in path if lv < level] + [(level, heading)]
                if level == 1 and not title:
                    title = heading
        elif name == "pre":
            flush()
            text = child.get_text().strip("\n")
            if text.strip():
                sections.append(Section(text, {"heading_path": [t for _, t in path]}))
        elif name == "table":
            flush()
            rows = [[cell.get_text(" ") for cell in row.find_all(["td", "th"])] for row in child.find_all("tr")]
            text = _table_text(rows)
            if text:
                sections.append(Section(text, {"heading_path": [t for _, t in path]}))
        elif name == "br":
            buffer.append("\n")
        else:
            block = name in _BLOCK_TAGS
            if block:
                flush()
            stack.append((iter(child.children), block))
    flush()
    return sections, title


def _is_chrome(tag: Any) -> bool:
    if tag.name in _DROP_TAGS:
        return True
    attrs = tag.attrs
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("aria-hidden") == "true" or attrs.get("role") in _CHROME_ROLES:
        return True
    classes = attrs.get("class")
    return bool(classes) and not _CHROME_CLASSES.isdisjoint(classes)


def _is_link_menu(tag: Any) -> bool:
    """A list/table/block that is nothing but several links (a menu, a link farm)."""
    links = tag.find_all("a")
    if len(links) < 3:
        return False
    text = _inline(tag.get_text(" "))
    linked = sum(len(_inline(a.get_text(" "))) for a in links)
    return bool(text) and linked / len(text) >= 0.9


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
