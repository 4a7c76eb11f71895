"""The analytics rules without a database: pseudonyms, state transitions and the counters' deltas,
percent, drop-off, the pace and the at-risk rule, the learners cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from smartcourse.analytics import domain as d
from smartcourse.errors import BadRequest

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = b"k" * 32


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


# --- pseudonyms -------------------------------------------------------------------------------------

def test_a_pseudonym_is_stable_keyed_and_not_the_user_id() -> None:
    user = uuid.uuid4()
    p = d.pseudonym(KEY, user)
    assert p == d.pseudonym(KEY, user) and p != user
    assert d.pseudonym(b"x" * 32, user) != p  # another key, another id
    assert d.pseudonym(KEY, uuid.uuid4()) != p
    assert str(user) not in str(p)


def test_the_pseudonym_is_the_documented_hmac() -> None:
    import hashlib
    import hmac

    user = uuid.UUID("00000000-0000-4000-8000-000000000001")
    digest = hmac.new(KEY, b"smartcourse.analytics.learner.v1." + user.bytes, hashlib.sha256).digest()
    assert d.pseudonym(KEY, user) == uuid.UUID(bytes=digest[:16])


# --- a learner's transitions and the course counters ------------------------------------------------

def test_enrol_cancel_re_enrol_and_complete_move_the_counters_once_each() -> None:
    e1, e2 = uuid.uuid4(), uuid.uuid4()
    a = d.enrolled(None, e1, 1, day(0))
    assert a is not None and d.course_delta(None, a) == (1, 0)
    assert d.enrolled(a, e1, 1, day(0)) is None  # the same enrolment again: nothing
    b = d.cancelled(a, e1, day(1))
    assert b is not None and d.course_delta(a, b) == (-1, 0)
    assert d.cancelled(b, e1, day(1)) is None
    c = d.enrolled(b, e2, 2, day(2))
    assert c is not None and c.live and c.course_version == 2 and d.course_delta(b, c) == (1, 0)
    assert d.cancelled(c, e1, day(3)) is None  # the old enrolment's cancellation, arriving late
    assert d.enrolled(c, e1, 1, day(0)) is None  # the old enrolment's creation, arriving late
    done = d.course_done(c, e2, 2, day(5))
    assert done.percent == 100 and done.completed_at == day(5) and d.course_delta(c, done) == (0, 1)
    assert d.course_done(done, e2, 2, day(6)).completed_at == day(5)  # the first completion stays


def test_lesson_activity_marks_started_and_keeps_the_latest_activity() -> None:
    a = d.enrolled(None, uuid.uuid4(), 1, day(0))
    assert a is not None and a.started_at is None
    b = d.lesson_done(a, a.enrollment_id, 1, day(3))  # type: ignore[arg-type]
    assert b.started_at == day(3) and b.last_active_at == day(3)
    c = d.active(b, day(1))  # an earlier minute: started earlier, last activity unchanged
    assert c.started_at == day(1) and c.last_active_at == day(3)


def test_a_learner_first_seen_by_a_completion_is_taken_as_enrolled_then() -> None:
    s = d.lesson_done(None, uuid.uuid4(), 1, day(2))
    assert s.enrolled_at == day(2) and s.started_at == day(2) and s.live


# --- lessons ----------------------------------------------------------------------------------------

def test_lesson_counters_count_a_learner_once_and_minutes_each_time() -> None:
    m1 = d.lesson_minute(None, day(0))
    assert d.lesson_delta(None, m1) == (1, 0, 1)
    m2 = d.lesson_minute(m1, day(0) + timedelta(minutes=1))
    assert d.lesson_delta(m1, m2) == (0, 0, 1) and m2.minutes == 2
    done = d.lesson_completed(m2, day(1))
    assert d.lesson_delta(m2, done) == (0, 1, 0)
    assert d.lesson_completed(done, day(2)) == done  # completed once
    assert d.lesson_delta(None, d.lesson_completed(None, day(1))) == (1, 1, 0)


def test_a_lesson_completed_in_an_earlier_enrolment_is_completed_again_in_the_new_one() -> None:
    first = d.lesson_completed(None, day(1))
    again = d.lesson_completed(first, day(9), enrolled_at=day(8))  # cancelled, enrolled again on day 8
    assert again.completed_at == day(9) and again.started_at == day(1)
    assert d.lesson_delta(first, again) == (0, 0, 0)  # the person was counted as completing it already
    assert d.lesson_completed(again, day(9), enrolled_at=day(8)) == again  # a replay changes nothing
    late = d.lesson_completed(again, day(2), enrolled_at=day(8))  # the old enrolment's event, late
    assert late.completed_at == day(9) and late.started_at == day(1)


def test_percent_follows_the_lms_rule() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    basis = [d.Lesson(a, True), d.Lesson(b, True), d.Lesson(c, False)]
    assert d.percent(basis, set()) == 0
    assert d.percent(basis, {c}) == 0  # optional lessons do not count
    assert d.percent(basis, {a}) == 50
    assert d.percent(basis, {a, b}) == 100
    optional = [d.Lesson(a, False), d.Lesson(b, False), d.Lesson(c, False)]
    assert d.percent(optional, {a}) == 33  # none required: all count, rounded down
    assert d.percent([], {a}) == 0


@pytest.mark.parametrize(("started", "completed", "rate"), [(0, 0, None), (4, 4, 0.0), (4, 1, 0.75), (3, 1, 0.667)])
def test_drop_off_is_the_share_of_starters_who_did_not_complete(started: int, completed: int,
                                                                 rate: float | None) -> None:
    assert d.drop_off_rate(started, completed) == rate


def test_completion_rate_and_minute_buckets() -> None:
    assert d.completion_rate(0, 0) == 0.0 and d.completion_rate(3, 1) == 0.333
    assert d.minute_of(datetime(2026, 3, 2, 9, 41, 59, 999, tzinfo=UTC)) == datetime(2026, 3, 2, 9, 41, tzinfo=UTC)


# --- pace and at risk -------------------------------------------------------------------------------

def test_expected_percent_at_the_median_pace() -> None:
    assert d.expected_percent(5, None) is None  # nobody completed yet: no pace to compare with
    assert d.expected_percent(5, 10) == 50
    assert d.expected_percent(3.3, 10) == 33
    assert d.expected_percent(30, 10) == 100
    assert d.expected_percent(1, 0) == 100


def risk(**kw: object) -> list[d.Reason]:
    args: dict[str, object] = {"percent": 50, "started": True, "completed": False, "enrolled_at": day(0),
                               "last_active_at": day(9), "now": day(10), "median_days": None}
    args.update(kw)
    return d.risk_reasons(**args)  # type: ignore[arg-type]


def test_at_risk_only_learners_who_started_and_have_not_completed() -> None:
    idle = {"last_active_at": day(0), "now": day(30)}
    assert [r.rule for r in risk(**idle)] == ["inactive"]
    assert risk(started=False, **idle) == []
    assert risk(completed=True, **idle) == []


def test_inactive_from_seven_whole_days() -> None:
    assert risk(last_active_at=day(3.01), now=day(10)) == []  # 6.99 days
    [reason] = risk(last_active_at=day(3), now=day(10))
    assert reason.rule == "inactive" and reason.detail == "no activity for 7 days (last active 2026-03-05)"


def test_behind_the_median_pace_with_its_reason() -> None:
    [reason] = risk(percent=20, median_days=8.0, now=day(6), last_active_at=day(5))
    assert reason.rule == "behind_pace"
    assert reason.detail == "20% after 6 days; at the course's median pace (8 days to complete) 75% is expected by now"
    assert risk(percent=75, median_days=8.0, now=day(6), last_active_at=day(5)) == []  # on pace
    both = risk(percent=0, median_days=2.5, now=day(20), last_active_at=day(1))
    assert [r.rule for r in both] == ["inactive", "behind_pace"]


# --- the learners cursor ----------------------------------------------------------------------------

def test_positions_round_trip_and_garbage_is_400_naming_cursor() -> None:
    p = d.Position(-123456789, uuid.uuid4())
    text = d.encode_position(p)
    assert len(text) == 32 and d.decode_position(text) == p
    assert d.decode_position(None) is None
    with pytest.raises(BadRequest) as e:
        d.decode_position("not-a-cursor")
    assert e.value.details[0].field == "cursor"
