"""DOCX: paragraphs and tables under the heading path (``{"heading_path": [...]}``).

Headings come from the "Heading n" styles or outline levels; the Title style gives the title.
python-docx is imported when a document is read.
"""

from __future__ import annotations

import io
import re
from typing import Any

from smartcourse.ai.extract.common import _clean, _inline, _real_title, _table_text
from smartcourse.ai.extract.errors import CorruptDocument
from smartcourse.ai.extract.model import Section
from smartcourse.ai.extract.ooxml import _ooxml_errors

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
