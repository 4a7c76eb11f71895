"""The errors of extraction.

Every failure is an `ExtractionError` subclass with a stable ``code``; callers branch on the type
or the code, never on the message. All of them are permanent: retrying the same bytes gives the
same result.
"""

from __future__ import annotations

from typing import ClassVar


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
