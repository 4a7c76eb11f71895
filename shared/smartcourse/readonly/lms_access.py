"""AI -> LMS, read-only: who may use a course's assistant, and the lessons that show each asset.

Owned by the assistant. Reads lms.courses, lms.enrollments, lms.course_versions and lms.assets,
never writes.
- `course_access(conn, course_id, user_id)`: the course's instructor, status, published version and
  the user's live (active or completed) enrollment status, or None if the course does not exist.
- `lessons_for_assets(conn, course_id, version, asset_ids)`: the first lesson (in reading order) of
  the published version `version` that presents each asset, with its title.
- `latest_published_version(conn, course_id)`: the course's latest published version and the assets
  its snapshot lists (those deleted since left out), or None if it was never published.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

LIVE_ENROLLMENT = ("active", "completed")


@dataclass(frozen=True, slots=True)
class CourseAccess:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    status: str
    published_version: int | None
    enrollment_status: str | None  # 'active' | 'completed' | None


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    version: int
    asset_ids: list[uuid.UUID]  # the snapshot's assets still in the course, in snapshot order


@dataclass(frozen=True, slots=True)
class LessonRef:
    lesson_id: uuid.UUID
    title: str


def course_access(conn: psycopg.Connection[Any], course_id: uuid.UUID, user_id: uuid.UUID) -> CourseAccess | None:
    row = conn.execute(
        "SELECT c.id, c.instructor_id, c.status, c.published_version, "
        "       (SELECT e.status FROM lms.enrollments e WHERE e.course_id = c.id AND e.user_id = %s "
        "          AND e.status = ANY(%s) ORDER BY e.enrolled_at DESC LIMIT 1) AS enrollment_status "
        "FROM lms.courses c WHERE c.id = %s",
        (user_id, list(LIVE_ENROLLMENT), course_id),
    ).fetchone()
    if row is None:
        return None
    version = row["published_version"]
    return CourseAccess(row["id"], row["instructor_id"], row["status"],
                        int(version) if version is not None else None, row["enrollment_status"])


def lessons_for_assets(conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int,
                       asset_ids: list[uuid.UUID]) -> dict[uuid.UUID, LessonRef]:
    if not asset_ids:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (l.value->>'asset_id') l.value->>'asset_id' AS asset_id, "
        "       l.value->>'lesson_id' AS lesson_id, l.value->>'title' AS title "
        "FROM lms.course_versions v "
        "CROSS JOIN LATERAL jsonb_array_elements(v.snapshot->'modules') WITH ORDINALITY AS m(value, mpos) "
        "CROSS JOIN LATERAL jsonb_array_elements(m.value->'lessons') WITH ORDINALITY AS l(value, lpos) "
        "WHERE v.course_id = %s AND v.version = %s AND l.value->>'asset_id' = ANY(%s) "
        "ORDER BY l.value->>'asset_id', m.mpos, l.lpos",
        (course_id, version, [str(a) for a in asset_ids]),
    ).fetchall()
    out: dict[uuid.UUID, LessonRef] = {}
    for r in rows:
        out[uuid.UUID(r["asset_id"])] = LessonRef(uuid.UUID(r["lesson_id"]), r["title"])
    return out


def latest_published_version(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> PublishedVersion | None:
    row = conn.execute(
        "SELECT c.published_version AS version, "
        "       coalesce((SELECT array_agg(a.id ORDER BY x.pos) "
        "                   FROM jsonb_array_elements(v.snapshot->'assets') WITH ORDINALITY AS x(value, pos) "
        "                   JOIN lms.assets a ON a.id = (x.value->>'asset_id')::uuid AND a.course_id = c.id "
        "                  WHERE a.deleted_at IS NULL), '{}') AS asset_ids "
        "FROM lms.courses c "
        "JOIN lms.course_versions v ON v.course_id = c.id AND v.version = c.published_version "
        "WHERE c.id = %s",
        (course_id,),
    ).fetchone()
    if row is None:
        return None
    return PublishedVersion(int(row["version"]), list(row["asset_ids"]))
