"""Analytics -> AI side, read-only: learners' questions to the assistant and their content-gap
clusters (ai.asked_questions, ai.gap_clusters; migration 0055), for the lesson funnel's
`questions_asked` and `GET /courses/{course_id}/analytics/content-gaps`.

Who asked never leaves this module: learners are counted (`count(DISTINCT user_id)`) in SQL and
only question texts, counts, lessons and statuses are returned. Vectors are compared in the
database (`<=>`), never read: AnalyticsFunction needs neither pgvector's types nor numpy.
- `questions_per_lesson(conn, course_id)`: per lesson, the learners' questions whose best retrieved
  passage is in it, refusals for lack of coverage left out (they are gaps, about no lesson).
- `gap_clusters(conn, course_id, min_learners, questions)`: the clusters asked by at least
  `min_learners` distinct learners, most learners first, with their questions nearest the
  centroid and the lessons their questions retrieved most.
- `asked_after(conn, after, ...)`: the questions asked after a cursor, oldest first, as facts for the
  xAPI `asked` statements: who asked leaves as the caller's pseudonym of the user id (`pseudonym`),
  the question text not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


def questions_per_lesson(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = conn.execute(
        "SELECT lesson_id, count(*) AS n FROM ai.asked_questions WHERE course_id = %s AND lesson_id IS NOT NULL "
        "AND gap IS DISTINCT FROM 'not_covered' GROUP BY lesson_id", (course_id,)).fetchall()
    return {r["lesson_id"]: int(r["n"]) for r in rows}


@dataclass(frozen=True, slots=True)
class GapCluster:
    id: uuid.UUID
    status: str                     # open | covered
    questions: int
    learners: int
    first_asked_at: datetime
    last_asked_at: datetime
    covered_version: int | None
    covered_at: datetime | None
    covered_lesson_id: uuid.UUID | None
    nearest: list[str]              # question texts, nearest the centroid first
    lessons: list[uuid.UUID]        # lessons of their best passages, most often first


def gap_clusters(conn: psycopg.Connection[Any], course_id: uuid.UUID, min_learners: int, questions: int,
                 lessons: int) -> list[GapCluster]:
    rows = conn.execute(
        "SELECT c.id, c.status, a.questions, a.learners, a.first_asked_at, a.last_asked_at, c.covered_version, "
        "  c.covered_at, c.covered_lesson_id, "
        "  ARRAY(SELECT q.question FROM ai.asked_questions q WHERE q.cluster_id = c.id "
        "        ORDER BY q.embedding <=> c.centroid, q.asked_at LIMIT %(nq)s) AS nearest, "
        "  ARRAY(SELECT q.lesson_id FROM ai.asked_questions q WHERE q.cluster_id = c.id AND q.lesson_id IS NOT NULL "
        "        GROUP BY q.lesson_id ORDER BY count(*) DESC, q.lesson_id LIMIT %(nl)s) AS lessons "
        "FROM ai.gap_clusters c "
        "CROSS JOIN LATERAL (SELECT count(*) AS questions, count(DISTINCT q.user_id) AS learners, "
        "  min(q.asked_at) AS first_asked_at, max(q.asked_at) AS last_asked_at "
        "  FROM ai.asked_questions q WHERE q.cluster_id = c.id) a "
        "WHERE c.course_id = %(c)s AND a.learners >= %(min)s "
        "ORDER BY a.learners DESC, a.questions DESC, c.id",
        {"c": course_id, "min": min_learners, "nq": questions, "nl": lessons}).fetchall()
    return [GapCluster(**r) for r in rows]


@dataclass(frozen=True, slots=True)
class Asked:
    message_id: uuid.UUID            # the answer's message: the question's key
    course_id: uuid.UUID
    learner: uuid.UUID               # pseudonym(user_id): the user id stays in this module
    lesson_id: uuid.UUID | None      # its best passage's lesson; None when refused for lack of coverage
    asked_at: datetime


def asked_after(conn: psycopg.Connection[Any], after: tuple[datetime, uuid.UUID] | None, *, settle_s: float,
                limit: int, pseudonym: Callable[[uuid.UUID], uuid.UUID]) -> list[Asked]:
    """Learners' questions after the keyset cursor `after` (asked_at, message_id), oldest first,
    asked at least `settle_s` seconds ago by the database's clock: a question is written in the
    transaction of its answer, and `asked_at` is that transaction's start, so a row can commit after
    a later one; by `settle_s` (longer than the assistant's 28 s timeout) every transaction that
    could still add an earlier row has ended. The lesson is the one the funnel counts the question
    on (`questions_per_lesson`): its best passage's, unless it was refused as not covered."""
    at, message_id = after if after is not None else (None, None)
    rows = conn.execute(
        "SELECT message_id, course_id, user_id, asked_at, "
        "  CASE WHEN gap IS DISTINCT FROM 'not_covered' THEN lesson_id END AS lesson_id "
        "FROM ai.asked_questions "
        "WHERE asked_at <= now() - make_interval(secs => %(settle)s) "
        "  AND (asked_at, message_id) > (coalesce(%(at)s::timestamptz, '-infinity'), "
        "                                coalesce(%(id)s::uuid, '00000000-0000-0000-0000-000000000000')) "
        "ORDER BY asked_at, message_id LIMIT %(limit)s",
        {"settle": settle_s, "at": at, "id": message_id, "limit": limit}).fetchall()
    return [Asked(message_id=r["message_id"], course_id=r["course_id"], learner=pseudonym(r["user_id"]),
                  lesson_id=r["lesson_id"], asked_at=r["asked_at"]) for r in rows]
