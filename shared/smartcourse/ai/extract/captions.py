"""Captions (WebVTT, SRT): one section per cue, with its times (``{"start": ..., "end": ...}``).

Speakers (``<v Name>``) prefix their cue's text; rolling captions repeating a line are merged.
webvtt-py is imported when captions are read.
"""

from __future__ import annotations

import io
import re

from smartcourse.ai.extract.common import _inline
from smartcourse.ai.extract.errors import CorruptDocument
from smartcourse.ai.extract.model import DocumentFormat, Section

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
