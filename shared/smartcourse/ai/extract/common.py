"""Text hygiene shared by the formats: cleaning, inline text, titles, tables as text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

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
