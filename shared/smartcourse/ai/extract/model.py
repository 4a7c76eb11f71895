"""What extraction returns: an `ExtractedDocument` of located `Section`s, and its `DocumentFormat`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
