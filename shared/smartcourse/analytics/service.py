"""Learning analytics use cases: each event into the rollups (one transaction, the consumer's), the
time-on-task heartbeat, and the reports (authorised, names joined at read time).

The consumer's handlers (`handlers(key)`) run inside the consumer framework's transaction, with the
event's analytics.processed_events row; each learner's and lesson's state moves through
`analytics.domain` and the counters move by the transition's delta, so replaying an event (or
handling one twice, were the ledger lost) cannot count it twice in a counter it already moved."""

from __future__ import annotations

import uuid
from collections.abc import Callable
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
from smartcourse.events import EventEnvelope
from smartcourse.readonly import ai_questions, lms_roster

Handler = Callable[[psycopg.Connection[Any], EventEnvelope], None]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _uuid(data: dict[str, Any], key: str) -> uuid.UUID:
    return uuid.UUID(str(data[key]))


def _time(data: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(data[key]))


# --- events -> rollups ------------------------------------------------------------------------------

Step = Callable[[domain.LearnerState | None], domain.LearnerState | None]


def _move_learner(conn: psycopg.Connection[Any], course_id: uuid.UUID, learner: uuid.UUID,
                  step: Step) -> domain.LearnerState | None:
    old = repo.learner_for_update(conn, course_id, learner)
    new = step(old)
    if new is None or new == old:
        return None
    repo.save_learner(conn, course_id, learner, new)
    repo.add_course_counts(conn, course_id, *domain.course_delta(old, new))
    return new


def _refresh_percent(conn: psycopg.Connection[Any], course_id: uuid.UUID, learner: uuid.UUID,
                     state: domain.LearnerState) -> None:
    if state.completed_at is not None:
        return  # 100, set by course.completed
    basis = repo.version_basis(conn, course_id, state.course_version)
    value = domain.percent(basis, repo.completed_lessons(conn, course_id, learner, since=state.enrolled_at))
    if value != state.percent:
        repo.set_percent(conn, course_id, learner, value)


def statement(conn: psycopg.Connection[Any], env: EventEnvelope, course_id: uuid.UUID, learner: uuid.UUID,
              verb: str, at: datetime, **extra: Any) -> None:
    """The event's xAPI statement (its id derived from the event's: a replay adds nothing)."""
    repo.add_statement(conn, xapi.statement_id(env.id), env.id, course_id, learner, verb, at, **extra)


def handlers(key: bytes) -> dict[str, Handler]:
    """The consumer's handlers by event name; `key` makes the learners' pseudonyms."""

    def learner_of(data: dict[str, Any]) -> uuid.UUID:
        return domain.pseudonym(key, _uuid(data, "user_id"))

    def course_published(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        course_id, version = _uuid(d, "course_id"), int(d["version"])
        repo.upsert_course(conn, course_id, _uuid(d, "instructor_id"), str(d["title"]), version)
        repo.insert_version_lessons(conn, course_id, version, [
            (uuid.UUID(str(x["lesson_id"])), str(x["title"]), bool(x["required"])) for x in d["lessons"]])
        # learners whose lesson events came before this version's publish event (another topic)
        for learner in repo.learners_of_version(conn, course_id, version):
            state = repo.learner_for_update(conn, course_id, learner)
            if state is not None:
                _refresh_percent(conn, course_id, learner, state)
        repo.add_course_counts(conn, course_id, 0, 0)  # last: rows lock in the order the other writers use

    def course_updated(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        title = (env.data.get("changes") or {}).get("title")
        if isinstance(title, str) and title:
            repo.rename_course(conn, _uuid(env.data, "course_id"), title)

    def enrollment_created(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner = learner_of(d)
        if repo.is_erased(conn, learner):
            return
        _move_learner(conn, _uuid(d, "course_id"), learner, lambda old: domain.enrolled(
            old, _uuid(d, "enrollment_id"), int(d["course_version"]), _time(d, "enrolled_at")))
        statement(conn, env, _uuid(d, "course_id"), learner, "registered", _time(d, "enrolled_at"))

    def enrollment_cancelled(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner = learner_of(d)
        if repo.is_erased(conn, learner):
            return
        _move_learner(conn, _uuid(d, "course_id"), learner,
                      lambda old: domain.cancelled(old, _uuid(d, "enrollment_id"), _time(d, "cancelled_at")))

    def lesson_completed(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner, course_id, lesson_id, at = learner_of(d), _uuid(d, "course_id"), _uuid(d, "lesson_id"), \
            _time(d, "completed_at")
        if repo.is_erased(conn, learner):
            return
        state = _move_learner(conn, course_id, learner, lambda old: domain.lesson_done(
            old, _uuid(d, "enrollment_id"), int(d["course_version"]), at))
        state = state or repo.learner_for_update(conn, course_id, learner)
        old = repo.lesson_for_update(conn, course_id, lesson_id, learner)
        new = domain.lesson_completed(old, at, state.enrolled_at if state else None)
        if new != old:
            repo.save_lesson(conn, course_id, lesson_id, learner, new)
            repo.add_lesson_counts(conn, course_id, lesson_id, *domain.lesson_delta(old, new))
        if state is not None:
            _refresh_percent(conn, course_id, learner, state)
        statement(conn, env, course_id, learner, "progressed", at, lesson_id=lesson_id,
                  percent=repo.learner_percent(conn, course_id, learner))

    def course_completed(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner = learner_of(d)
        if repo.is_erased(conn, learner):
            return
        _move_learner(conn, _uuid(d, "course_id"), learner, lambda old: domain.course_done(
            old, _uuid(d, "enrollment_id"), int(d["course_version"]), _time(d, "completed_at")))
        statement(conn, env, _uuid(d, "course_id"), learner, "completed", _time(d, "completed_at"), percent=100)

    def certificate_issued(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner, course_id, at = learner_of(d), _uuid(d, "course_id"), _time(d, "issued_at")
        if repo.is_erased(conn, learner):
            return
        if repo.certificate_issued(conn, _uuid(d, "certificate_id"), course_id, learner, at, env.id):
            statement(conn, env, course_id, learner, "earned", at)

    def certificate_revoked(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        d = env.data
        learner = learner_of(d)
        if repo.is_erased(conn, learner):
            return
        issued_by = repo.certificate_revoked(conn, _uuid(d, "certificate_id"), _time(d, "revoked_at"))
        if issued_by is not None:  # the 'earned' statement is voided (xAPI statements are never changed)
            statement(conn, env, _uuid(d, "course_id"), learner, "voided", _time(d, "revoked_at"),
                      voids=xapi.statement_id(issued_by))

    def user_deleted(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        repo.erase(conn, learner_of(env.data), uuid.uuid4())

    return {
        "course.published": course_published,
        "course.updated": course_updated,
        "enrollment.created": enrollment_created,
        "enrollment.cancelled": enrollment_cancelled,
        "lesson.completed": lesson_completed,
        "course.completed": course_completed,
        "user.deleted": user_deleted,
        "certificate.issued": certificate_issued,
        "certificate.revoked": certificate_revoked,
    }


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
