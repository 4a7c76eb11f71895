"""analytics.* in SQL (psycopg, parameterised): AnalyticsFunction's rollups and the reports' reads.
Every function takes a connection with dict rows inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from smartcourse.analytics.domain import LearnerState, Lesson, LessonState, Position

Conn = psycopg.Connection[Any]


# --- courses ----------------------------------------------------------------------------------------

def upsert_course(conn: Conn, course_id: uuid.UUID, instructor_id: uuid.UUID, title: str, version: int) -> None:
    """The latest version's title and instructor win; an older version's event arriving late does not."""
    conn.execute(
        "INSERT INTO analytics.courses (course_id, instructor_id, title, latest_version) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (course_id) DO UPDATE SET instructor_id = EXCLUDED.instructor_id, title = EXCLUDED.title, "
        "latest_version = EXCLUDED.latest_version WHERE analytics.courses.latest_version <= EXCLUDED.latest_version",
        (course_id, instructor_id, title, version))


def rename_course(conn: Conn, course_id: uuid.UUID, title: str) -> None:
    conn.execute("UPDATE analytics.courses SET title = %s WHERE course_id = %s", (title, course_id))


def insert_version_lessons(conn: Conn, course_id: uuid.UUID, version: int,
                           lessons: list[tuple[uuid.UUID, str, bool]]) -> None:
    conn.cursor().executemany(
        "INSERT INTO analytics.version_lessons (course_id, version, lesson_id, ordinal, title, required) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        [(course_id, version, lesson_id, i, title, required) for i, (lesson_id, title, required) in enumerate(lessons)])


def version_basis(conn: Conn, course_id: uuid.UUID, version: int) -> list[Lesson]:
    rows = conn.execute("SELECT lesson_id, required FROM analytics.version_lessons WHERE course_id = %s "
                        "AND version = %s ORDER BY ordinal", (course_id, version)).fetchall()
    return [Lesson(r["lesson_id"], r["required"]) for r in rows]


def lesson_in_course(conn: Conn, course_id: uuid.UUID, lesson_id: uuid.UUID) -> bool:
    return conn.execute("SELECT 1 FROM analytics.version_lessons WHERE course_id = %s AND lesson_id = %s LIMIT 1",
                        (course_id, lesson_id)).fetchone() is not None


def add_course_counts(conn: Conn, course_id: uuid.UUID, enrolled: int, completed: int) -> None:
    """The course's counters move by the deltas; its rollups changed now (as_of)."""
    conn.execute(  # the inserted row holds no negative count (its CHECK runs before the conflict)
        "INSERT INTO analytics.course_stats AS s (course_id, enrolled, completed) "
        "VALUES (%(c)s, greatest(%(e)s, 0), greatest(%(d)s, 0)) "
        "ON CONFLICT (course_id) DO UPDATE SET enrolled = s.enrolled + %(e)s, completed = s.completed + %(d)s, "
        "updated_at = now()", {"c": course_id, "e": enrolled, "d": completed})


# --- learners ---------------------------------------------------------------------------------------

_LEARNER_COLUMNS = ("enrollment_id, course_version, enrolled_at, last_active_at, cancelled_at, completed_at, "
                    "started_at, percent")


def _erasure_lock(learner: uuid.UUID) -> int:
    """The learner's advisory lock key (the pseudonym's first 8 bytes)."""
    return int.from_bytes(learner.bytes[:8], "big", signed=True)


def is_erased(conn: Conn, learner: uuid.UUID) -> bool:
    """Whether the learner was erased. Takes the learner's erasure lock, shared, until the caller's
    transaction ends: an erasure of the same learner (`erase`, exclusive) running at the same time
    then waits for this transaction and re-keys what it wrote, or, having committed first, is seen
    here (the check runs after the lock is held). So nothing written after the check stays under the
    pseudonym of an erased learner, whichever of the two commits first."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_erasure_lock(learner),))
    return conn.execute("SELECT 1 FROM analytics.erased_learners WHERE learner = %s",
                        (learner,)).fetchone() is not None


def learner_for_update(conn: Conn, course_id: uuid.UUID, learner: uuid.UUID) -> LearnerState | None:
    row = conn.execute(f"SELECT {_LEARNER_COLUMNS} FROM analytics.learners WHERE course_id = %s AND learner = %s "
                       "FOR UPDATE", (course_id, learner)).fetchone()
    return LearnerState(**row) if row else None


def save_learner(conn: Conn, course_id: uuid.UUID, learner: uuid.UUID, s: LearnerState) -> None:
    conn.execute(
        f"INSERT INTO analytics.learners (course_id, learner, {_LEARNER_COLUMNS}) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (course_id, learner) DO UPDATE SET "
        "enrollment_id = EXCLUDED.enrollment_id, course_version = EXCLUDED.course_version, "
        "enrolled_at = EXCLUDED.enrolled_at, last_active_at = EXCLUDED.last_active_at, "
        "cancelled_at = EXCLUDED.cancelled_at, completed_at = EXCLUDED.completed_at, "
        "started_at = EXCLUDED.started_at, percent = EXCLUDED.percent",
        (course_id, learner, s.enrollment_id, s.course_version, s.enrolled_at, s.last_active_at, s.cancelled_at,
         s.completed_at, s.started_at, s.percent))


def learners_of_version(conn: Conn, course_id: uuid.UUID, version: int) -> list[uuid.UUID]:
    return [r["learner"] for r in conn.execute(
        "SELECT learner FROM analytics.learners WHERE course_id = %s AND course_version = %s AND completed_at IS NULL",
        (course_id, version)).fetchall()]


def completed_lessons(conn: Conn, course_id: uuid.UUID, learner: uuid.UUID, *, since: datetime) -> set[uuid.UUID]:
    """The lessons the learner completed in their current enrolment (from `since`, its start)."""
    return {r["lesson_id"] for r in conn.execute(
        "SELECT lesson_id FROM analytics.lesson_learners WHERE course_id = %s AND learner = %s "
        "AND completed_at >= %s", (course_id, learner, since)).fetchall()}


def set_percent(conn: Conn, course_id: uuid.UUID, learner: uuid.UUID, percent: int) -> None:
    conn.execute("UPDATE analytics.learners SET percent = %s WHERE course_id = %s AND learner = %s",
                 (percent, course_id, learner))


# --- lessons ----------------------------------------------------------------------------------------

def lesson_for_update(conn: Conn, course_id: uuid.UUID, lesson_id: uuid.UUID, learner: uuid.UUID) -> LessonState | None:
    row = conn.execute("SELECT started_at, completed_at, minutes FROM analytics.lesson_learners "
                       "WHERE course_id = %s AND lesson_id = %s AND learner = %s FOR UPDATE",
                       (course_id, lesson_id, learner)).fetchone()
    return LessonState(**row) if row else None


def save_lesson(conn: Conn, course_id: uuid.UUID, lesson_id: uuid.UUID, learner: uuid.UUID, s: LessonState) -> None:
    conn.execute(
        "INSERT INTO analytics.lesson_learners (course_id, lesson_id, learner, started_at, completed_at, minutes) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (course_id, lesson_id, learner) DO UPDATE SET "
        "started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at, minutes = EXCLUDED.minutes",
        (course_id, lesson_id, learner, s.started_at, s.completed_at, s.minutes))


def add_lesson_counts(conn: Conn, course_id: uuid.UUID, lesson_id: uuid.UUID, started: int, completed: int,
                      minutes: int) -> None:
    conn.execute(
        "INSERT INTO analytics.lesson_stats AS s (course_id, lesson_id, started, completed, minutes) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (course_id, lesson_id) DO UPDATE SET "
        "started = s.started + EXCLUDED.started, completed = s.completed + EXCLUDED.completed, "
        "minutes = s.minutes + EXCLUDED.minutes", (course_id, lesson_id, started, completed, minutes))


def insert_minute(conn: Conn, learner: uuid.UUID, minute: datetime, course_id: uuid.UUID,
                  lesson_id: uuid.UUID) -> bool:
    """True when this learner's minute was not counted yet."""
    return conn.execute(
        "INSERT INTO analytics.activity_minutes (learner, minute, course_id, lesson_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING 1", (learner, minute, course_id, lesson_id)).fetchone() is not None


# --- certificates and xAPI statements --------------------------------------------------------------

def add_statement(conn: Conn, statement_id: uuid.UUID, event_id: uuid.UUID, course_id: uuid.UUID,
                  learner: uuid.UUID, verb: str, at: datetime, *, lesson_id: uuid.UUID | None = None,
                  percent: int | None = None, voids: uuid.UUID | None = None) -> bool:
    """True when the statement is new (a replay, or a question read again, adds nothing)."""
    return conn.execute(
        "INSERT INTO analytics.statements (statement_id, event_id, course_id, learner, verb, lesson_id, percent, "
        "voids, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (statement_id, event_id, course_id, learner, verb, lesson_id, percent, voids, at)).fetchone() is not None


def learner_percent(conn: Conn, course_id: uuid.UUID, learner: uuid.UUID) -> int | None:
    row = conn.execute("SELECT percent FROM analytics.learners WHERE course_id = %s AND learner = %s",
                       (course_id, learner)).fetchone()
    return None if row is None else int(row["percent"])


def certificate_issued(conn: Conn, certificate_id: uuid.UUID, course_id: uuid.UUID, learner: uuid.UUID,
                       issued_at: datetime, event_id: uuid.UUID) -> bool:
    """True when the certificate was not known yet."""
    return conn.execute(
        "INSERT INTO analytics.certificates (certificate_id, course_id, learner, issued_at, issued_event_id) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (certificate_id, course_id, learner, issued_at, event_id)).fetchone() is not None


def certificate_revoked(conn: Conn, certificate_id: uuid.UUID, revoked_at: datetime) -> uuid.UUID | None:
    """Mark the certificate revoked (once); its issuing event's id, or None when unknown or already revoked."""
    row = conn.execute(
        "UPDATE analytics.certificates SET revoked_at = %s WHERE certificate_id = %s AND revoked_at IS NULL "
        "RETURNING issued_event_id", (revoked_at, certificate_id)).fetchone()
    return None if row is None else row["issued_event_id"]


def statements_page(conn: Conn, course_id: uuid.UUID, since: datetime | None, until: datetime | None,
                    after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[dict[str, Any]]:
    """The course's statements in (at, statement_id) order, since <= at < until, after the cursor."""
    where = [sql.SQL("s.course_id = %(c)s")]
    params: dict[str, Any] = {"c": course_id, "limit": limit}
    if since is not None:
        where.append(sql.SQL("s.at >= %(since)s"))
        params["since"] = since
    if until is not None:
        where.append(sql.SQL("s.at < %(until)s"))
        params["until"] = until
    if after is not None:
        where.append(sql.SQL("(s.at, s.statement_id) > (%(at)s, %(id)s)"))
        params.update(at=after[0], id=after[1])
    query = sql.SQL(_statement_rows() + "WHERE {where} ORDER BY s.at, s.statement_id LIMIT %(limit)s").format(
        where=sql.SQL(" AND ").join(where))
    return [dict(r) for r in conn.execute(query, params).fetchall()]


def _statement_rows(extra: str = "") -> str:
    """SELECT ... FROM of statement rows with their titles: the fields of `xapi.Row` (+ `extra`)."""
    return ("SELECT s.statement_id, s.course_id, s.learner, s.verb, s.at, s.lesson_id, s.percent, s.voids, "
            "  c.title AS course_title, "
            "  (SELECT v.title FROM analytics.version_lessons v WHERE v.course_id = s.course_id "
            f"     AND v.lesson_id = s.lesson_id ORDER BY v.version DESC LIMIT 1) AS lesson_title{extra} "
            "FROM analytics.statements s LEFT JOIN analytics.courses c ON c.course_id = s.course_id ")


# --- the XapiSync schedule: asked statements and the LRS push ---------------------------------------

def asked_cursor(conn: Conn) -> tuple[datetime, uuid.UUID] | None:
    """The last question read from ai.asked_questions (asked_at, message_id), None before the first."""
    row = conn.execute("SELECT asked_at, message_id FROM analytics.asked_cursor").fetchone()
    return None if row is None else (row["asked_at"], row["message_id"])


def advance_asked_cursor(conn: Conn, at: datetime, message_id: uuid.UUID) -> None:
    """Move the cursor forward (never back: two runs at once both end at the furthest)."""
    conn.execute(
        "INSERT INTO analytics.asked_cursor AS a (asked_at, message_id) VALUES (%(at)s, %(id)s) "
        "ON CONFLICT (id) DO UPDATE SET asked_at = EXCLUDED.asked_at, message_id = EXCLUDED.message_id, "
        "updated_at = now() WHERE (a.asked_at, a.message_id) < (EXCLUDED.asked_at, EXCLUDED.message_id)",
        {"at": at, "id": message_id})


def claim_push(conn: Conn, endpoint: str, now: datetime, lease_until: datetime) -> dict[str, Any]:
    """The endpoint's push state (cursor, failures in a row, last error), `claimed` when it is now
    leased to the caller until `lease_until`; not claimed while another invocation holds it or its
    backoff (`retry_at`) has not ended."""
    conn.execute("INSERT INTO analytics.xapi_push (endpoint) VALUES (%s) ON CONFLICT DO NOTHING", (endpoint,))
    row = conn.execute(
        "UPDATE analytics.xapi_push SET leased_until = %(until)s WHERE endpoint = %(e)s "
        "AND (leased_until IS NULL OR leased_until <= %(now)s) AND (retry_at IS NULL OR retry_at <= %(now)s) "
        "RETURNING after_tx::text AS after_tx, after_id, failures, last_error, true AS claimed",
        {"e": endpoint, "now": now, "until": lease_until}).fetchone()
    if row is None:
        row = conn.execute("SELECT after_tx::text AS after_tx, after_id, failures, last_error, false AS claimed "
                           "FROM analytics.xapi_push WHERE endpoint = %s", (endpoint,)).fetchone()
    assert row is not None
    return dict(row)


def statements_to_push(conn: Conn, after: tuple[str, uuid.UUID], limit: int) -> list[dict[str, Any]]:
    """Statements after the push cursor (tx, statement_id) in that order, only those inserted by
    transactions older than every transaction still running (`pg_snapshot_xmin`): a later commit can
    then only add rows after them, never before the cursor. Each row also has `tx` (text)."""
    return [dict(r) for r in conn.execute(
        _statement_rows(", s.tx::text AS tx") + "WHERE (s.tx, s.statement_id) > (%(tx)s::xid8, %(id)s) "
        "AND s.tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY s.tx, s.statement_id LIMIT %(limit)s",
        {"tx": after[0], "id": after[1], "limit": limit}).fetchall()]


def save_push(conn: Conn, endpoint: str, after: tuple[str, uuid.UUID], *, accepted: int, duplicates: int,
              parked: list[tuple[str, int, str]], failures: int, last_error: str | None,
              retry_at: datetime | None) -> None:
    """Record a batch: the cursor past what was settled, the counts, the parked statements with the
    LRS's status and reason (a statement parked again keeps one row), the endpoint's failures in a
    row, its last error and when to try again (the lease stays: `release_push`)."""
    if parked:
        conn.cursor().executemany(
            "INSERT INTO analytics.xapi_push_parked (endpoint, statement_id, status, reason) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (endpoint, statement_id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, "
            "parked_at = now()", [(endpoint, uuid.UUID(sid), status, reason) for sid, status, reason in parked])
    conn.execute(
        "UPDATE analytics.xapi_push SET after_tx = %(tx)s::xid8, after_id = %(id)s, pushed = pushed + %(a)s, "
        "duplicates = duplicates + %(d)s, parked = parked + %(p)s, failures = %(f)s, last_error = %(err)s, "
        "retry_at = %(retry)s, updated_at = now() WHERE endpoint = %(e)s",
        {"e": endpoint, "tx": after[0], "id": after[1], "a": accepted, "d": duplicates, "p": len(parked),
         "f": failures, "err": last_error, "retry": retry_at})


def release_push(conn: Conn, endpoint: str) -> None:
    conn.execute("UPDATE analytics.xapi_push SET leased_until = NULL WHERE endpoint = %s", (endpoint,))


# --- erasure ----------------------------------------------------------------------------------------

def erase(conn: Conn, learner: uuid.UUID, anonymous: uuid.UUID) -> int:
    """Re-key the learner's rows to `anonymous` (an id naming nobody; the counters keep counting, as
    the LMS keeps the anonymised enrolments), drop the link to the LMS enrolment, and remember the
    pseudonym so events still in flight for it are ignored. The learner's erasure lock (exclusive,
    see `is_erased`) is held first. The learner rows changed."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_erasure_lock(learner),))
    changed = conn.execute("UPDATE analytics.learners SET learner = %s, enrollment_id = NULL WHERE learner = %s",
                           (anonymous, learner)).rowcount
    conn.execute("UPDATE analytics.lesson_learners SET learner = %s WHERE learner = %s", (anonymous, learner))
    conn.execute("UPDATE analytics.activity_minutes SET learner = %s WHERE learner = %s", (anonymous, learner))
    conn.execute("UPDATE analytics.certificates SET learner = %s WHERE learner = %s", (anonymous, learner))
    conn.execute("UPDATE analytics.statements SET learner = %s WHERE learner = %s", (anonymous, learner))
    conn.execute("INSERT INTO analytics.erased_learners (learner) VALUES (%s) ON CONFLICT DO NOTHING", (learner,))
    return changed


# --- reports ----------------------------------------------------------------------------------------

_MEDIAN_DAYS = ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.completed_at - l.enrolled_at) "
                "/ 86400.0) FROM analytics.learners l WHERE l.cancelled_at IS NULL AND l.completed_at IS NOT NULL")


def course_overview(conn: Conn, course_id: uuid.UUID, active_since: datetime) -> dict[str, Any]:
    row = conn.execute(
        "SELECT s.enrolled, s.completed, s.updated_at, "
        "  (SELECT count(*) FROM analytics.learners l WHERE l.course_id = %(c)s AND l.cancelled_at IS NULL "
        "     AND l.last_active_at >= %(since)s) AS active_7d, "
        f"  ({_MEDIAN_DAYS} AND l.course_id = %(c)s) AS median_days "
        "FROM (SELECT 1) AS one LEFT JOIN analytics.course_stats s ON s.course_id = %(c)s",
        {"c": course_id, "since": active_since}).fetchone()
    assert row is not None
    return dict(row)


def median_days_to_complete(conn: Conn, course_id: uuid.UUID) -> float | None:
    row = conn.execute(f"{_MEDIAN_DAYS} AND l.course_id = %s", (course_id,)).fetchone()
    return None if row is None else next(iter(row.values()))


def admin_overview(conn: Conn, since: datetime) -> dict[str, Any]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM analytics.courses) AS courses, "
        "  (SELECT coalesce(sum(enrolled), 0) FROM analytics.course_stats) AS enrolled, "
        "  (SELECT coalesce(sum(completed), 0) FROM analytics.course_stats) AS completed, "
        "  (SELECT max(updated_at) FROM analytics.course_stats) AS updated_at, "
        "  (SELECT count(DISTINCT learner) FROM analytics.learners WHERE cancelled_at IS NULL) AS learners, "
        "  (SELECT count(DISTINCT learner) FROM analytics.learners WHERE cancelled_at IS NULL "
        "     AND last_active_at >= %(since)s) AS active_7d, "
        "  (SELECT count(*) FROM analytics.activity_minutes WHERE minute >= %(since)s) AS minutes_7d, "
        f"  ({_MEDIAN_DAYS}) AS median_days", {"since": since}).fetchone()
    assert row is not None
    return dict(row)


def lesson_funnel(conn: Conn, course_id: uuid.UUID) -> list[dict[str, Any]]:
    """The latest published version's lessons in reading order, with their counters."""
    return [dict(r) for r in conn.execute(
        "SELECT v.lesson_id, v.title, coalesce(s.started, 0) AS started, coalesce(s.completed, 0) AS completed, "
        "  (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ll.minutes) FROM analytics.lesson_learners ll "
        "     WHERE ll.course_id = v.course_id AND ll.lesson_id = v.lesson_id AND ll.minutes > 0) AS median_minutes "
        "FROM analytics.courses c "
        "JOIN analytics.version_lessons v ON v.course_id = c.course_id AND v.version = c.latest_version "
        "LEFT JOIN analytics.lesson_stats s ON s.course_id = v.course_id AND s.lesson_id = v.lesson_id "
        "WHERE c.course_id = %s ORDER BY v.ordinal", (course_id,)).fetchall()]


def lesson_titles(conn: Conn, course_id: uuid.UUID, lesson_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each lesson's title in the latest published version that has it (content gaps' lessons)."""
    if not lesson_ids:
        return {}
    rows = conn.execute("SELECT DISTINCT ON (lesson_id) lesson_id, title FROM analytics.version_lessons "
                        "WHERE course_id = %s AND lesson_id = ANY(%s) ORDER BY lesson_id, version DESC",
                        (course_id, lesson_ids)).fetchall()
    return {r["lesson_id"]: r["title"] for r in rows}


#: sort name -> column (a fixed list: never the caller's text in SQL)
SORT_COLUMNS = {"enrolled_at": "enrolled_at", "last_active_at": "last_active_at", "percent": "percent"}


def learners_page(conn: Conn, course_id: uuid.UUID, sort: str, after: Position | None, after_value: Any,
                  limit: int) -> list[dict[str, Any]]:
    """Live enrolments of the course in `sort` order (a leading '-': descending), after the cursor's
    (value, learner), `limit` rows."""
    desc = sort.startswith("-")
    col = sql.Identifier(SORT_COLUMNS[sort.lstrip("-")])
    order = sql.SQL("DESC") if desc else sql.SQL("ASC")
    where: sql.Composable = sql.SQL("")
    params: dict[str, Any] = {"c": course_id, "limit": limit}
    if after is not None:
        where = sql.SQL(" AND ({col}, learner) {op} (%(v)s, %(l)s)").format(
            col=col, op=sql.SQL("<") if desc else sql.SQL(">"))
        params.update(v=after_value, l=after.learner)
    query = sql.SQL(
        "SELECT learner, enrollment_id, enrolled_at, percent, completed_at, last_active_at FROM analytics.learners "
        "WHERE course_id = %(c)s AND cancelled_at IS NULL{where} ORDER BY {col} {order}, learner {order} "
        "LIMIT %(limit)s").format(where=where, col=col, order=order)
    return [dict(r) for r in conn.execute(query, params).fetchall()]


def at_risk_candidates(conn: Conn, course_id: uuid.UUID, *, inactive_before: datetime, now: datetime,
                       median_days: float | None, after: tuple[datetime, uuid.UUID] | None,
                       limit: int) -> list[dict[str, Any]]:
    """Live enrolments that started, have not completed and may be at risk, most inactive first
    (last_active_at, learner), after the cursor's place: the rule's candidates, a superset of the
    flagged (inactive since `inactive_before`, or a percent below 100 x days enrolled / median
    days, which the rule floors), so `domain.risk_reasons` decides and nothing flagged is missed."""
    where = ""
    params: dict[str, Any] = {"c": course_id, "before": inactive_before, "now": now, "median": median_days,
                              "limit": limit}
    if after is not None:
        where = " AND (last_active_at, learner) > (%(at)s, %(l)s)"
        params.update(at=after[0], l=after[1])
    return [dict(r) for r in conn.execute(
        "SELECT learner, enrollment_id, enrolled_at, percent, last_active_at FROM analytics.learners "
        "WHERE course_id = %(c)s AND cancelled_at IS NULL AND completed_at IS NULL AND started_at IS NOT NULL"
        " AND (last_active_at <= %(before)s OR (%(median)s::float8 IS NOT NULL AND (%(median)s::float8 <= 0"
        " OR percent < 100.0 * extract(epoch FROM %(now)s - enrolled_at) / 86400.0 / %(median)s::float8)))"
        + where + " ORDER BY last_active_at, learner LIMIT %(limit)s", params).fetchall()]
