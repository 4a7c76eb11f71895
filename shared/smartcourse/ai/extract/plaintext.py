"""Plain text: paragraphs (``{"paragraph": n, "line": n}``), separated by blank lines."""

from __future__ import annotations

from smartcourse.ai.extract.common import _clean
from smartcourse.ai.extract.model import Section


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
