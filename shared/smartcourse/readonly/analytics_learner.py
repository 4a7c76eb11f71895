"""LMS API -> analytics side, read-only: what it holds about a user, for `GET /me/export` (the
learner's right of access). AnalyticsFunction owns analytics.*; learners are pseudonymous there, so
a user's rows are found through their LMS enrolments (`analytics.learners.enrollment_id`), not
through the pseudonym's key. This is the one place the LMS reads analytics.*."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def of_user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> dict[str, Any]:
    courses = [dict(r) for r in conn.execute(
        "SELECT l.course_id, l.learner AS learner_id, l.enrolled_at, l.cancelled_at, l.completed_at, l.started_at, "
        "       l.last_active_at, l.percent "
        "FROM analytics.learners l JOIN lms.enrollments e ON e.id = l.enrollment_id "
        "WHERE e.user_id = %s ORDER BY l.enrolled_at, l.course_id", (user_id,)).fetchall()]
    pairs = [(c["course_id"], c["learner_id"]) for c in courses]
    lessons: list[dict[str, Any]] = []
    minutes: list[dict[str, Any]] = []
    if pairs:
        course_ids, learners = [p[0] for p in pairs], [p[1] for p in pairs]
        lessons = [dict(r) for r in conn.execute(
            "SELECT ll.course_id, ll.lesson_id, ll.started_at, ll.completed_at, ll.minutes "
            "FROM analytics.lesson_learners ll JOIN unnest(%s::uuid[], %s::uuid[]) AS p(course_id, learner) "
            "  ON p.course_id = ll.course_id AND p.learner = ll.learner "
            "ORDER BY ll.course_id, ll.started_at", (course_ids, learners)).fetchall()]
        minutes = [dict(r) for r in conn.execute(
            "SELECT m.course_id, m.lesson_id, m.minute FROM analytics.activity_minutes m "
            "JOIN unnest(%s::uuid[], %s::uuid[]) AS p(course_id, learner) "
            "  ON p.course_id = m.course_id AND p.learner = m.learner ORDER BY m.minute", (course_ids, learners)
        ).fetchall()]
    return {"courses": courses, "lessons": lessons, "minutes_on_task": minutes}
