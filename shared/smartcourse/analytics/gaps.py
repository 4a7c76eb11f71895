"""Content gaps as the instructor sees them (no I/O, no numpy: AnalyticsFunction serves the report):
which clusters are shown, their label and example questions, scrubbed of what could identify the
asker. The AI side's rules (what a gap is, clustering, re-asking) are `smartcourse.assistant.gaps`."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: A cluster is shown to the instructor once this many distinct learners asked in it (issue 18).
MIN_LEARNERS = 3
#: Example questions shown per cluster, and the length of a label or an example.
EXAMPLES = 3
LABEL_CHARS = 80
EXAMPLE_CHARS = 200
#: Lessons named per cluster (those of the best passages its questions retrieved, most often first).
NEAREST_LESSONS = 3


def shown(learners: int) -> bool:
    return learners >= MIN_LEARNERS


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
#: a run of 5 or more digits, possibly split by spaces, dots, dashes or slashes (phone, student,
#: card, account numbers); shorter numbers ("lesson 3", "HTTP 404", "2026") stay
_NUMBER = re.compile(r"(?<!\w)\+?\d(?:[\s./-]?\d){4,}(?!\w)")


def scrub(text: str) -> str:
    """A question as an instructor may read it: e-mail addresses, links, @handles and long numbers
    (phone, student or account numbers) replaced, whitespace collapsed."""
    text = _EMAIL.sub("[email]", text)
    text = _URL.sub("[link]", text)
    text = _HANDLE.sub("[handle]", text)
    text = _NUMBER.sub("[number]", text)
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:") + "…"


def label(representative: str) -> str:
    """A cluster's label: its most central question, scrubbed and shortened."""
    return shorten(scrub(representative), LABEL_CHARS)


def examples(questions: Sequence[str]) -> list[str]:
    """Up to `EXAMPLES` distinct questions (scrubbed, shortened), in the order given (nearest the
    centroid first), the same question asked twice shown once."""
    out: list[str] = []
    seen: set[str] = set()
    for q in questions:
        text = shorten(scrub(q), EXAMPLE_CHARS)
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
        if len(out) == EXAMPLES:
            break
    return out
