"""Learning analytics: each event into the rollups, in the consumer framework's transaction.

The consumer's handlers (`handlers(key)`) run inside that transaction, with the event's
analytics.processed_events row; each learner's and lesson's state moves through `analytics.domain`
and the counters move by the transition's delta, so replaying an event (or handling one twice, were
the ledger lost) cannot count it twice in a counter it already moved.

Apart from `analytics.service` (the heartbeat and the reports, with their response models), so that
AnalyticsFunction's Kafka invocations import none of the reporting API (issue 19: a handler import
loads only what its first invocation needs; `tests/unit/foundation/test_lazy_imports.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from smartcourse.analytics import domain, xapi
from smartcourse.analytics import repository as repo
from smartcourse.events import EventEnvelope

Handler = Callable[[psycopg.Connection[Any], EventEnvelope], None]


def _uuid(data: dict[str, Any], key: str) -> uuid.UUID:
    return uuid.UUID(str(data[key]))


def _time(data: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(data[key]))


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
