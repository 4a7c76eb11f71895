"""Analytics -> LMS, read-only: who may read a course's analytics, and learners' names.

AnalyticsFunction writes only analytics.*, where learners are pseudonymous; names are joined here,
at read time, for a caller already authorised for the course. Reads lms.courses, lms.enrollments
and lms.users, never writes.
- `course_instructor(conn, course_id)`: the course's instructor, or None if the course does not exist.
- `names_by_enrollment(conn, course_id, enrollment_ids)`: the account name behind each of the
  course's enrolments asked for (a deleted account's is the LMS's "Deleted user").
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def course_instructor(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> uuid.UUID | None:
    row = conn.execute("SELECT instructor_id FROM lms.courses WHERE id = %s", (course_id,)).fetchone()
    return row["instructor_id"] if row else None


def names_by_enrollment(conn: psycopg.Connection[Any], course_id: uuid.UUID,
                        enrollment_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not enrollment_ids:
        return {}
    rows = conn.execute("SELECT e.id, u.name FROM lms.enrollments e JOIN lms.users u ON u.id = e.user_id "
                        "WHERE e.course_id = %s AND e.id = ANY(%s)", (course_id, enrollment_ids)).fetchall()
    return {r["id"]: r["name"] for r in rows}
