"""SQL for certificates (lms.certificates, lms.certificate_failures). Parameterised throughout;
every function runs in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from smartcourse.certificates.domain import Certificate, CompletionFacts, Snapshot

Conn = psycopg.Connection[Any]

_COLS = ("id, enrollment_id, user_id, course_id, code, snapshot, s3_key, issued_at, "
         "revoked_at, revoked_reason, revoked_by, withdrawn_at")


def _row(conn: Conn, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    """One row as a dict (`Database` connections use psycopg's dict_row), or None."""
    row: dict[str, Any] | None = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return row


def _rows(conn: Conn, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


def _certificate(row: dict[str, Any]) -> Certificate:
    return Certificate(
        id=row["id"], enrollment_id=row["enrollment_id"], user_id=row["user_id"], course_id=row["course_id"],
        code=row["code"], snapshot=Snapshot.from_json(row["snapshot"]), s3_key=row["s3_key"],
        issued_at=row["issued_at"], revoked_at=row["revoked_at"], revoked_reason=row["revoked_reason"],
        revoked_by=row["revoked_by"], withdrawn_at=row["withdrawn_at"],
    )


def completion_facts(conn: Conn, enrollment_id: uuid.UUID) -> CompletionFacts | None:
    """The learner, course and instructor behind an enrollment, as they are now."""
    row = _row(conn, """
        SELECT e.id AS enrollment_id, e.user_id, e.course_id, e.course_version, e.completed_at,
               learner.name AS learner_name, c.title AS course_title, instructor.name AS instructor_name
          FROM lms.enrollments e
          JOIN lms.users learner ON learner.id = e.user_id
          JOIN lms.courses c ON c.id = e.course_id
          JOIN lms.users instructor ON instructor.id = c.instructor_id
         WHERE e.id = %s""", (enrollment_id,))
    if row is None:
        return None
    return CompletionFacts(**row)


def insert_certificate(conn: Conn, certificate_id: uuid.UUID, facts: CompletionFacts, snapshot: Snapshot,
                       s3_key: str) -> datetime | None:
    """Insert the enrollment's certificate unless it has one; the issued_at of a new row, else None.

    A concurrent transaction inserting for the same enrollment waits on the unique index and
    then does nothing: one certificate per enrollment."""
    row = _row(conn, """
        INSERT INTO lms.certificates (id, enrollment_id, user_id, course_id, code, snapshot, s3_key)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (enrollment_id) DO NOTHING
        RETURNING issued_at""",
        (certificate_id, facts.enrollment_id, facts.user_id, facts.course_id, snapshot.code,
         Jsonb(snapshot.as_json()), s3_key))
    return None if row is None else row["issued_at"]


def by_code(conn: Conn, code: str, *, lock: bool = False) -> Certificate | None:
    row = _row(conn, f"SELECT {_COLS} FROM lms.certificates WHERE code = %s" + (" FOR UPDATE" if lock else ""),
               (code,))
    return None if row is None else _certificate(row)


def by_enrollment(conn: Conn, enrollment_id: uuid.UUID) -> Certificate | None:
    row = _row(conn, f"SELECT {_COLS} FROM lms.certificates WHERE enrollment_id = %s", (enrollment_id,))
    return None if row is None else _certificate(row)


def for_user(conn: Conn, user_id: uuid.UUID, limit: int) -> list[Certificate]:
    rows = _rows(conn, f"SELECT {_COLS} FROM lms.certificates WHERE user_id = %s "
                       "ORDER BY issued_at DESC, id DESC LIMIT %s", (user_id, limit))
    return [_certificate(r) for r in rows]


def revoke(conn: Conn, certificate_id: uuid.UUID, reason: str, revoked_by: uuid.UUID) -> Certificate:
    row = _row(conn, f"""
        UPDATE lms.certificates SET revoked_at = now(), revoked_reason = %s, revoked_by = %s
         WHERE id = %s AND revoked_at IS NULL
        RETURNING {_COLS}""", (reason, revoked_by, certificate_id))
    assert row is not None, "revoke() is called on a locked, unrevoked certificate"
    return _certificate(row)
