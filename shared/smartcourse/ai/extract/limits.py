"""The bounds extraction works within (`ExtractionLimits`); past any of them: `DocumentTooLarge`."""

from __future__ import annotations

from dataclasses import dataclass


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
