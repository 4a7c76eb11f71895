"""Learning analytics use cases of the reporting API: the time-on-task heartbeat and the reports
(authorised, names joined at read time). The events' way into the rollups is
`smartcourse.analytics.projection` (the consumer's handlers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from smartcourse.analytics import domain, gaps, xapi
from smartcourse.analytics import repository as repo
from smartcourse.analytics import schemas as s
from smartcourse.auth import Principal
from smartcourse.cursor import decode_cursor, encode_cursor
from smartcourse.db import Database
from smartcourse.errors import Forbidden, NotFound
from smartcourse.readonly import ai_questions, lms_roster


def _now() -> datetime:
    return datetime.now(UTC)


# --- time on task -----------------------------------------------------------------------------------

def heartbeat(db: Database, key: bytes, who: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID,
              at: datetime | None = None) -> s.Heartbeat:
    """Count this minute on the lesson for the caller, once per learner and minute (several tabs,
    retries). Reads and writes analytics.* only: the learner must be enrolled as far as analytics
    knows (its enrolment event processed) and the lesson must be in a published version."""
    learner = domain.pseudonym(key, who.user_id)
    minute = domain.minute_of(at or _now())
    with db.transaction() as conn:
        state = repo.learner_for_update(conn, course_id, learner)
        if state is None or not state.live:
            raise Forbidden("only a learner enrolled in the course records time on its lessons")
        if not repo.lesson_in_course(conn, course_id, lesson_id):
            raise NotFound("lesson not found in this course")
        if not repo.insert_minute(conn, learner, minute, course_id, lesson_id):
            return s.Heartbeat(counted=False, minute=minute)
        new = domain.active(state, minute)
        if new != state:
            repo.save_learner(conn, course_id, learner, new)
        repo.add_course_counts(conn, course_id, 0, 0)
        old = repo.lesson_for_update(conn, course_id, lesson_id, learner)
        lesson = domain.lesson_minute(old, minute)
        repo.save_lesson(conn, course_id, lesson_id, learner, lesson)
        repo.add_lesson_counts(conn, course_id, lesson_id, *domain.lesson_delta(old, lesson))
    return s.Heartbeat(counted=True, minute=minute)


# --- reports ----------------------------------------------------------------------------------------

def _authorised(conn: psycopg.Connection[Any], who: Principal, course_id: uuid.UUID) -> None:
    instructor = lms_roster.course_instructor(conn, course_id)
    if instructor is None:
        raise NotFound("course not found")
    if not who.is_admin and instructor != who.user_id:
        raise Forbidden("only the course's instructor and admins see its analytics")


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def overview(db: Database, who: Principal, course_id: uuid.UUID, now: datetime | None = None) -> s.Overview:
    now = now or _now()
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        row = repo.course_overview(conn, course_id, now - domain.ACTIVE_WINDOW)
    enrolled, completed = int(row["enrolled"] or 0), int(row["completed"] or 0)
    return s.Overview(enrolled=enrolled, active_7d=int(row["active_7d"]), completed=completed,
                      completion_rate=domain.completion_rate(enrolled, completed),
                      median_days_to_complete=_days(row["median_days"]), as_of=row["updated_at"] or now)


def admin_overview(db: Database, who: Principal, now: datetime | None = None) -> s.AdminOverview:
    if not who.is_admin:
        raise Forbidden("platform analytics are for admins")
    now = now or _now()
    with db.transaction() as conn:
        row = repo.admin_overview(conn, now - domain.ACTIVE_WINDOW)
    enrolled, completed = int(row["enrolled"]), int(row["completed"])
    return s.AdminOverview(courses=int(row["courses"]), learners=int(row["learners"]), enrolled=enrolled,
                           active_7d=int(row["active_7d"]), completed=completed,
                           completion_rate=domain.completion_rate(enrolled, completed),
                           median_days_to_complete=_days(row["median_days"]), minutes_7d=int(row["minutes_7d"]),
                           as_of=row["updated_at"] or now)


def lessons(db: Database, who: Principal, course_id: uuid.UUID) -> s.LessonFunnel:
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        rows = repo.lesson_funnel(conn, course_id)
        asked = ai_questions.questions_per_lesson(conn, course_id)
    return s.LessonFunnel(items=[s.LessonFunnelItem(
        lesson_id=r["lesson_id"], title=r["title"], started=r["started"], completed=r["completed"],
        drop_off_rate=domain.drop_off_rate(r["started"], r["completed"]),
        median_minutes=None if r["median_minutes"] is None else round(float(r["median_minutes"]), 2),
        questions_asked=asked.get(r["lesson_id"], 0)) for r in rows])


def content_gaps(db: Database, who: Principal, course_id: uuid.UUID) -> s.ContentGaps:
    """The assistant's content gaps (ai.*, through `readonly.ai_questions`): clusters asked by at
    least `gaps.MIN_LEARNERS` learners, most learners first; question texts only, scrubbed."""
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        clusters = ai_questions.gap_clusters(conn, course_id, gaps.MIN_LEARNERS, questions=20,
                                             lessons=gaps.NEAREST_LESSONS)
        wanted = {x for c in clusters for x in [*c.lessons, c.covered_lesson_id] if x is not None}
        titles = repo.lesson_titles(conn, course_id, sorted(wanted))
    items = []
    for c in clusters:
        if not gaps.shown(c.learners) or not c.nearest:
            continue
        order = ([c.covered_lesson_id] if c.status == "covered" and c.covered_lesson_id else []) + c.lessons
        lessons = list(dict.fromkeys(x for x in order if x in titles))[:gaps.NEAREST_LESSONS]
        items.append(s.ContentGap(
            id=c.id, label=gaps.label(c.nearest[0]), questions=c.questions, learners=c.learners,
            examples=gaps.examples(c.nearest), nearest_lessons=[s.GapLesson(lesson_id=x, title=titles[x])
                                                                for x in lessons],
            status="covered" if c.status == "covered" else "open", covered_version=c.covered_version,
            covered_at=c.covered_at, first_asked_at=c.first_asked_at, last_asked_at=c.last_asked_at))
    return s.ContentGaps(items=items)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sort_value(sort: str, row: dict[str, Any]) -> int:
    value = row[sort.lstrip("-")]
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    return int(value)


def _from_sort_value(sort: str, value: int) -> Any:
    if sort.lstrip("-") == "percent":
        return value
    try:
        return _EPOCH + timedelta(microseconds=value)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if value > 0 else datetime.min.replace(tzinfo=UTC)


def learners(db: Database, who: Principal, course_id: uuid.UUID, query: s.LearnersQuery,
             default_limit: int) -> s.LearnersPage:
    after = domain.decode_position(query.cursor)
    limit = query.limit or default_limit
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        rows = repo.learners_page(conn, course_id, query.sort, after,
                                  _from_sort_value(query.sort, after.value) if after else None, limit + 1)
        page = rows[:limit]
        names = lms_roster.names_by_enrollment(conn, course_id, [r["enrollment_id"] for r in page
                                                                 if r["enrollment_id"] is not None])
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = domain.encode_position(domain.Position(_sort_value(query.sort, last), last["learner"]))
    return s.LearnersPage(items=[s.LearnerRow(
        learner_id=r["learner"], name=names.get(r["enrollment_id"]), enrolled_at=r["enrolled_at"],
        percent=r["percent"], completed_at=r["completed_at"], last_active_at=r["last_active_at"]) for r in page],
        next_cursor=next_cursor)


def at_risk(db: Database, who: Principal, course_id: uuid.UUID, query: s.AtRiskQuery, default_limit: int,
            now: datetime | None = None) -> s.AtRisk:
    """A page of the at-risk list, most inactive first. The SQL narrows the candidates to a superset
    of the flagged (`repo.at_risk_candidates`); `domain.risk_reasons` decides and words each flag.
    Candidates are read a chunk at a time until the page is full, so a course of 20,000 learners
    costs a page, not the whole list."""
    now = now or _now()
    limit = query.limit or default_limit
    after_pos = domain.decode_position(query.cursor)
    after = (_from_sort_value("last_active_at", after_pos.value), after_pos.learner) if after_pos else None
    flagged: list[tuple[dict[str, Any], list[domain.Reason]]] = []
    more = False
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        median = _days(repo.median_days_to_complete(conn, course_id))
        chunk = max(2 * limit, 200)
        while True:
            rows = repo.at_risk_candidates(conn, course_id, inactive_before=now - timedelta(days=domain.INACTIVE_DAYS),
                                           now=now, median_days=median, after=after, limit=chunk)
            for r in rows:
                reasons = domain.risk_reasons(percent=r["percent"], started=True, completed=False,
                                              enrolled_at=r["enrolled_at"], last_active_at=r["last_active_at"],
                                              now=now, median_days=median)
                if not reasons:
                    continue
                if len(flagged) == limit:
                    more = True
                    break
                flagged.append((r, reasons))
            if more or len(rows) < chunk:
                break
            after = (rows[-1]["last_active_at"], rows[-1]["learner"])
        names = lms_roster.names_by_enrollment(conn, course_id, [r["enrollment_id"] for r, _ in flagged
                                                                 if r["enrollment_id"] is not None])
    next_cursor = None
    if more:
        last = flagged[-1][0]
        next_cursor = domain.encode_position(domain.Position(_sort_value("last_active_at", last), last["learner"]))
    return s.AtRisk(items=[s.AtRiskLearner(
        learner_id=r["learner"], name=names.get(r["enrollment_id"]), percent=r["percent"],
        days_inactive=domain.days_between(r["last_active_at"], now),
        reasons=[s.RiskReason(rule=x.rule, detail=x.detail) for x in reasons]) for r, reasons in flagged],
        next_cursor=next_cursor)


def xapi_statements(db: Database, who: Principal, course_id: uuid.UUID, query: s.XapiQuery, *, base: str,
                    home_page: str, default_limit: int) -> s.XapiPage:
    """The course's xAPI statements, oldest first on (timestamp, id), for its instructor and admins
    (since <= timestamp < until: an empty window lists nothing)."""
    after = decode_cursor(query.cursor)
    limit = query.limit or default_limit
    with db.transaction() as conn:
        _authorised(conn, who, course_id)
        rows = repo.statements_page(conn, course_id, query.since, query.until, after, limit + 1)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]["at"], page[-1]["statement_id"]) if len(rows) > limit else None
    return s.XapiPage(statements=[xapi.statement(xapi.Row(**r), base=base, home_page=home_page) for r in page],
                      next_cursor=next_cursor)
