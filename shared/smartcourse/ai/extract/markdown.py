"""Markdown: blocks under the heading path (``{"heading_path": [...], "line": n}``).

ATX and setext headings, fenced code kept as written, YAML front matter's ``title:``.
"""

from __future__ import annotations

import re

from smartcourse.ai.extract.common import _clean, _inline
from smartcourse.ai.extract.model import Section

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
