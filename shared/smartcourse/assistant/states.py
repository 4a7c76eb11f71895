"""Honest assistant states, free of I/O: what a course's assistant can answer from right now, and
why a refusal is a refusal.

The LMS publishes a version (`lms.courses.published_version`, the *latest* version); the AI side
makes it *live* (`ai.course_live_versions`) once its assets are indexed. Between the two the
assistant must not claim that the course does not cover a question:

- no live version yet, a version published: refuse with `indexing` without retrieving anything;
- a live version older than the latest: answer from the live version; if that refuses for lack of
  coverage, the reason is `indexing` (the newer material may cover it);
- nothing published (and nothing live): refuse with `not_published`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from smartcourse.assistant.domain import (
    REASON_INDEXING,
    REASON_NOT_COVERED,
    REASON_NOT_PUBLISHED,
    REFUSAL_NEWER_VERSION_INDEXING,
    Answer,
)

State = Literal["live", "indexing", "not_indexed"]
LIVE: State = "live"
INDEXING: State = "indexing"
NOT_INDEXED: State = "not_indexed"


@dataclass(frozen=True, slots=True)
class Versions:
    latest: int | None  # the course's latest published version (LMS)
    live: int | None    # the version the assistant answers from (AI side)

    @property
    def state(self) -> State:
        return course_state(self.latest, self.live)


def course_state(latest: int | None, live: int | None) -> State:
    """`live` when the assistant serves the latest published version (or something is live and the
    LMS has nothing newer), `indexing` while the latest published version is not live yet,
    `not_indexed` when nothing was ever published nor made live."""
    if latest is None:
        return LIVE if live is not None else NOT_INDEXED
    if live is None or live < latest:
        return INDEXING
    return LIVE


def refusal_before_retrieval(versions: Versions) -> str | None:
    """The reason to refuse without retrieving anything (nothing is live), or None."""
    if versions.live is not None:
        return None
    return REASON_INDEXING if versions.latest is not None else REASON_NOT_PUBLISHED


def settle_refusal(answer: Answer, versions: Versions) -> Answer:
    """An answer drawn from the live version, as the learner gets it: a "not covered" refusal while
    a newer published version is not live yet becomes `indexing` (the new material may cover it);
    every other answer (and refusal reason) is unchanged."""
    if not answer.refused:
        return dataclasses.replace(answer, reason=None)
    reason = answer.reason or REASON_NOT_COVERED
    if reason == REASON_NOT_COVERED and versions.state == INDEXING:
        return dataclasses.replace(answer, text=REFUSAL_NEWER_VERSION_INDEXING, reason=REASON_INDEXING)
    return dataclasses.replace(answer, reason=reason)


@dataclass(frozen=True, slots=True)
class DocumentCounts:
    ready: int = 0
    processing: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"ready": self.ready, "processing": self.processing, "failed": self.failed}


def count_documents(statuses: Iterable[str | None]) -> DocumentCounts:
    """The indexing state of a version's assets, one current-document status per asset (None: no
    document yet). `uploaded`, `processing` and no document count as processing."""
    ready = processing = failed = 0
    for status in statuses:
        if status == "ready":
            ready += 1
        elif status == "failed":
            failed += 1
        else:
            processing += 1
    return DocumentCounts(ready, processing, failed)
