"""Format detection (the bytes first, then the extension, then the content type) and decoding of text.

`detect_format` sniffs PDF, the OOXML packages (DOCX, PPTX), captions (WebVTT, SRT) and HTML from
the bytes, refuses known binary formats it does not read and password-protected Office files with
a clear message, and otherwise trusts the file name's extension or the declared media type.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePosixPath

from smartcourse.ai.extract.errors import CorruptDocument, EncryptedDocument, UnsupportedFormat
from smartcourse.ai.extract.model import DocumentFormat

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
