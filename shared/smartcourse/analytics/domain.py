"""Learning analytics rules, plain Python (no SQL, AWS or Kafka): pseudonyms, how each event moves a
learner's and a lesson's state, the counters' deltas, percent, the funnel's drop-off, the pace and
the at-risk rule. The repository stores what these return; the service wires them to events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import struct
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from smartcourse.errors import BadRequest, FieldProblem

#: Purpose prefix of the pseudonym HMAC: the key makes nothing else.
PSEUDONYM_PURPOSE = b"smartcourse.analytics.learner.v1."
#: A learner is inactive after this many whole days without activity (the at-risk rule).
INACTIVE_DAYS = 7
#: `active_7d`: active within this window.
ACTIVE_WINDOW = timedelta(days=7)

Sort = Literal["enrolled_at", "-enrolled_at", "last_active_at", "-last_active_at", "percent", "-percent"]
SORTS: tuple[str, ...] = ("enrolled_at", "-enrolled_at", "last_active_at", "-last_active_at", "percent", "-percent")


def pseudonym(key: bytes, user_id: uuid.UUID) -> uuid.UUID:
    """The learner's id in analytics.*: the first 16 bytes of HMAC-SHA256(key, purpose || user id),
    shaped as a uuid. The same person gets the same id in every course (platform totals count
    people once); without the key it cannot be linked back to the account."""
    digest = hmac.new(key, PSEUDONYM_PURPOSE + user_id.bytes, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16])


# --- a learner in a course ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LearnerState:
    enrollment_id: uuid.UUID | None
    course_version: int
    enrolled_at: datetime
    last_active_at: datetime
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None
    started_at: datetime | None = None
    percent: int = 0

    @property
    def live(self) -> bool:
        """An active or completed enrolment (a cancelled one counts nowhere)."""
        return self.cancelled_at is None


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def enrolled(old: LearnerState | None, enrollment_id: uuid.UUID, version: int, at: datetime) -> LearnerState | None:
    """enrollment.created. A re-enrolment after a cancellation starts over; an older enrolment's
    event arriving after a newer one (other partition) changes nothing (None)."""
    if old is None:
        return LearnerState(enrollment_id, version, at, at)
    if old.enrollment_id == enrollment_id or at < old.enrolled_at:
        return None
    return LearnerState(enrollment_id, version, at, _later(old.last_active_at, at))


def cancelled(old: LearnerState | None, enrollment_id: uuid.UUID, at: datetime) -> LearnerState | None:
    """enrollment.cancelled: only for the learner's current enrolment (a newer one stays)."""
    if old is None or old.enrollment_id != enrollment_id or old.cancelled_at is not None:
        return None
    return replace(old, cancelled_at=at)


def lesson_done(old: LearnerState | None, enrollment_id: uuid.UUID, version: int, at: datetime) -> LearnerState:
    """lesson.completed: the learner has started and was active then. A learner first seen through
    it (the consumer started after the enrolment's event) is taken as enrolled then."""
    if old is None:
        return LearnerState(enrollment_id, version, at, at, started_at=at)
    return replace(old, started_at=_earlier(old.started_at, at), last_active_at=_later(old.last_active_at, at))


def course_done(old: LearnerState | None, enrollment_id: uuid.UUID, version: int, at: datetime) -> LearnerState:
    """course.completed: written once per enrolment by the LMS; 100%."""
    base = old if old is not None else LearnerState(enrollment_id, version, at, at)
    return replace(base, completed_at=base.completed_at or at, percent=100, started_at=_earlier(base.started_at, at),
                   last_active_at=_later(base.last_active_at, at))


def active(old: LearnerState, at: datetime) -> LearnerState:
    """A counted minute of time on task."""
    return replace(old, started_at=_earlier(old.started_at, at), last_active_at=_later(old.last_active_at, at))


def course_delta(old: LearnerState | None, new: LearnerState) -> tuple[int, int]:
    """(enrolled, completed) changes of the course's counters when a learner moves old -> new."""
    def counts(s: LearnerState | None) -> tuple[int, int]:
        if s is None or not s.live:
            return 0, 0
        return 1, int(s.completed_at is not None)

    (e0, c0), (e1, c1) = counts(old), counts(new)
    return e1 - e0, c1 - c0


@dataclass(frozen=True, slots=True)
class Lesson:
    lesson_id: uuid.UUID
    required: bool


def percent(basis: list[Lesson], completed: set[uuid.UUID]) -> int:
    """The LMS's rule (lms.domain.course_percent): the share of the required lessons completed, or
    of all lessons when none is required, rounded down; 0 when there is nothing to do."""
    counted = [x for x in basis if x.required] or basis
    if not counted:
        return 0
    return (100 * sum(1 for x in counted if x.lesson_id in completed)) // len(counted)


# --- a learner in a lesson ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LessonState:
    started_at: datetime
    completed_at: datetime | None = None
    minutes: int = 0


def lesson_completed(old: LessonState | None, at: datetime, enrolled_at: datetime | None = None) -> LessonState:
    """lesson.completed. Completed once; but a lesson completed in an earlier enrolment of the same
    person (cancelled, then enrolled again: the LMS starts their progress over) takes the new
    completion's time, so the current enrolment's percent counts it (`completed_since`)."""
    if old is None:
        return LessonState(at, at)
    done = old.completed_at
    if done is None or (enrolled_at is not None and done < enrolled_at <= at):
        done = at
    return replace(old, started_at=_earlier(old.started_at, at), completed_at=done)


def lesson_minute(old: LessonState | None, at: datetime) -> LessonState:
    if old is None:
        return LessonState(at, None, 1)
    return replace(old, started_at=_earlier(old.started_at, at), minutes=old.minutes + 1)


def lesson_delta(old: LessonState | None, new: LessonState) -> tuple[int, int, int]:
    """(started, completed, minutes) changes of the lesson's counters."""
    started = int(old is None)
    completed = int(new.completed_at is not None and (old is None or old.completed_at is None))
    return started, completed, new.minutes - (old.minutes if old else 0)


def drop_off_rate(started: int, completed: int) -> float | None:
    """Of the learners who started the lesson, the share who have not completed it (None when
    nobody started it), to 3 decimals."""
    if started <= 0:
        return None
    return round(max(0, started - completed) / started, 3)


def completion_rate(enrolled: int, completed: int) -> float:
    return round(completed / enrolled, 3) if enrolled > 0 else 0.0


def minute_of(at: datetime) -> datetime:
    """The 1-minute bucket a heartbeat counts in."""
    return at.replace(second=0, microsecond=0)


# --- who needs help now, and why ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reason:
    rule: Literal["inactive", "behind_pace"]
    detail: str


def days_between(earlier: datetime, later: datetime) -> int:
    """Whole days from `earlier` to `later` (0 when later is not later)."""
    return max(0, (later - earlier) // timedelta(days=1))


def expected_percent(days_enrolled: float, median_days: float | None) -> int | None:
    """The percent a learner at the course's median pace has after `days_enrolled` days: learners
    who completed took `median_days` (their median); None without any completion yet."""
    if median_days is None:
        return None
    if median_days <= 0:
        return 100
    return min(100, math.floor(100 * days_enrolled / median_days))


def risk_reasons(*, percent: int, started: bool, completed: bool, enrolled_at: datetime, last_active_at: datetime,
                 now: datetime, median_days: float | None) -> list[Reason]:
    """The at-risk rule, every flag with its reason: a learner who started, has not completed, and
    (a) has been inactive for INACTIVE_DAYS days or more, or (b) is behind the course's median pace
    (below the percent a learner finishing in the median time would have by now)."""
    if not started or completed:
        return []
    reasons = []
    idle = days_between(last_active_at, now)
    if idle >= INACTIVE_DAYS:
        reasons.append(Reason("inactive", f"no activity for {idle} days (last active {last_active_at:%Y-%m-%d})"))
    days_enrolled = (now - enrolled_at) / timedelta(days=1)
    expected = expected_percent(days_enrolled, median_days)
    if expected is not None and percent < expected:
        assert median_days is not None
        reasons.append(Reason("behind_pace", f"{percent}% after {math.floor(days_enrolled)} days; at the course's "
                                             f"median pace ({median_days:g} days to complete) {expected}% is "
                                             "expected by now"))
    return reasons


# --- the learners listing's cursor ----------------------------------------------------------------

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
_CURSOR = struct.Struct(">q16s")


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the learners listing: the sort key's value (microseconds since 1970 for the
    times, the percent for percent) and the learner, the tie-breaker."""

    value: int
    learner: uuid.UUID


def encode_position(p: Position) -> str:
    return base64.urlsafe_b64encode(_CURSOR.pack(p.value, p.learner.bytes)).decode()


def decode_position(cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadRequest("the cursor is not valid", details=[FieldProblem("cursor", "not a cursor from this API")])
    value, raw = _CURSOR.unpack(base64.urlsafe_b64decode(cursor))
    return Position(value, uuid.UUID(bytes=raw))
