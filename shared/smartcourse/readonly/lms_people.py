"""Notifications -> LMS, read-only: who is told about what, by name.

The notifications side writes only notify.*. What it needs from the LMS (event payloads carry
ids, not titles or audiences):
- `course(conn, course_id)`: the course's title, instructor and capacity.
- `enrollments_until(conn, course_id, at)`: the course's live (active or completed) enrolments made
  at or before ``at``, for the instructor's milestones: the count as of that enrolment, whenever
  its event is handled.
- `learners_of_course(conn, course_id)`: the users with a live enrolment, told about new content.
- `version_lessons(conn, course_id, version)`: a published version's lessons (its snapshot), to
  say what a new version changed.
- `email_of(conn, user_id)`: the address an email notification goes to.
- `asset_filename(conn, asset_id)`: what the instructor called an upload.
- `verified_phone_of(conn, user_id)`: the number a text message goes to, once verified (None
  before, or without a number).
- `phone_code(conn, code_id)`: a phone verification code's number, expiry and whether it can
  still be used (the code itself is derived from the id, never stored).

Functions take a psycopg connection with dict rows (as `smartcourse.db.Database` opens them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class CourseFacts:
    id: uuid.UUID
    title: str
    instructor_id: uuid.UUID
    capacity: int | None


def course(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> CourseFacts | None:
    row = conn.execute("SELECT id, title, instructor_id, capacity FROM lms.courses WHERE id = %s",
                       (course_id,)).fetchone()
    return CourseFacts(**row) if row else None


def enrollments_until(conn: psycopg.Connection[Any], course_id: uuid.UUID, at: datetime) -> int:
    row = conn.execute("SELECT count(*) AS n FROM lms.enrollments WHERE course_id = %s AND status <> 'cancelled' "
                       "AND enrolled_at <= %s", (course_id, at)).fetchone()
    return int(row["n"]) if row else 0


def learners_of_course(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> list[uuid.UUID]:
    rows = conn.execute("SELECT DISTINCT user_id FROM lms.enrollments WHERE course_id = %s AND status = 'active' "
                        "ORDER BY user_id", (course_id,)).fetchall()
    return [r["user_id"] for r in rows]


def version_lessons(conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int) -> list[dict[str, Any]] | None:
    """The lessons of a published version in reading order, or None if there is no such version."""
    row = conn.execute("SELECT snapshot FROM lms.course_versions WHERE course_id = %s AND version = %s",
                       (course_id, version)).fetchone()
    if row is None:
        return None
    return [lesson for m in row["snapshot"].get("modules", []) for lesson in m.get("lessons", [])]


def email_of(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT email FROM lms.users WHERE id = %s", (user_id,)).fetchone()
    return str(row["email"]) if row else None


def asset_filename(conn: psycopg.Connection[Any], asset_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT filename FROM lms.assets WHERE id = %s", (asset_id,)).fetchone()
    return str(row["filename"]) if row else None


def verified_phone_of(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT phone FROM lms.users WHERE id = %s AND phone_verified_at IS NOT NULL",
                       (user_id,)).fetchone()
    return str(row["phone"]) if row else None


@dataclass(frozen=True, slots=True)
class PhoneCode:
    user_id: uuid.UUID
    phone: str
    expires_at: datetime
    usable: bool


def phone_code(conn: psycopg.Connection[Any], code_id: uuid.UUID) -> PhoneCode | None:
    row = conn.execute("SELECT user_id, phone, expires_at, used_at IS NULL AND closed_at IS NULL AS usable "
                       "FROM lms.phone_codes WHERE id = %s", (code_id,)).fetchone()
    return PhoneCode(**row) if row else None
