"""PPTX: the text of each slide (``{"slide": n}`` plus ``"title"``), speaker notes included.

python-pptx is imported when a presentation is read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from smartcourse.ai.extract.common import _clean, _inline, _real_title, _table_text
from smartcourse.ai.extract.errors import CorruptDocument
from smartcourse.ai.extract.model import Section
from smartcourse.ai.extract.ooxml import _ooxml_errors


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
