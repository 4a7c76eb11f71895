"""Learners' questions and content-gap clusters in ai.* (adapter: SQL, migration 0055). Written by
AssistantFunction in the transaction that stores the answer, re-checked by IngestFunction when a
version goes live; read by AnalyticsFunction through `smartcourse.readonly.ai_questions` only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from smartcourse.assistant import gaps

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class AskedQuestion:
    message_id: uuid.UUID        # the answer's message
    course_id: uuid.UUID
    course_version: int          # the live version it was retrieved from
    user_id: uuid.UUID
    question: str
    lesson_id: uuid.UUID | None  # the lesson of the best retrieved passage
    evidence: float
    gap: gaps.GapKind | None
    embedding: NDArray[np.float32] | None


def record_question(conn: psycopg.Connection[Any], q: AskedQuestion) -> uuid.UUID | None:
    """Store the question; a gap question joins the nearest open cluster of its course (cosine to
    the centroid >= `gaps.CLUSTER_COSINE`) or starts one. The cluster id, None when no gap.
    Gap questions of one course are clustered one at a time (a transaction-scoped advisory lock),
    so two paraphrases asked at once do not start two clusters."""
    keep_vector = q.gap is not None and q.embedding is not None
    conn.execute(
        "INSERT INTO ai.asked_questions (message_id, course_id, course_version, user_id, question, lesson_id, "
        "evidence, gap, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (q.message_id, q.course_id, q.course_version, q.user_id, q.question, q.lesson_id, q.evidence, q.gap,
         q.embedding if keep_vector else None))
    if not keep_vector:
        return None
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('ai.gap_clusters ' || %s::text, 0))",
                 (str(q.course_id),))
    nearest = conn.execute(
        "SELECT id, 1 - (centroid <=> %(v)s::vector) AS similarity FROM ai.gap_clusters "
        "WHERE course_id = %(c)s AND status = 'open' ORDER BY centroid <=> %(v)s::vector, id LIMIT 1",
        {"v": q.embedding, "c": q.course_id}).fetchone()
    cluster_id: uuid.UUID | None = None
    if nearest is not None and gaps.joins(float(nearest["similarity"])):
        row = conn.execute(  # still open: a re-check may have covered it meanwhile
            "UPDATE ai.gap_clusters SET centroid = centroid + %s::vector, questions = questions + 1, "
            "checked_version = least(checked_version, %s), updated_at = now() "
            "WHERE id = %s AND status = 'open' RETURNING id",
            (q.embedding, q.course_version, nearest["id"])).fetchone()
        cluster_id = row["id"] if row is not None else None
    if cluster_id is None:
        cluster_id = uuid.uuid4()
        conn.execute("INSERT INTO ai.gap_clusters (id, course_id, centroid, questions, checked_version) "
                     "VALUES (%s, %s, %s, 1, %s)", (cluster_id, q.course_id, q.embedding, q.course_version))
    conn.execute("UPDATE ai.asked_questions SET cluster_id = %s WHERE message_id = %s", (cluster_id, q.message_id))
    return cluster_id


def clusters_to_recheck(conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int,
                        limit: int) -> list[uuid.UUID]:
    """Open clusters of the course not yet tested on `version`, most asked first."""
    return [r["id"] for r in conn.execute(
        "SELECT id FROM ai.gap_clusters WHERE course_id = %s AND status = 'open' AND checked_version < %s "
        "ORDER BY questions DESC, id LIMIT %s", (course_id, version, limit)).fetchall()]


def representatives(conn: psycopg.Connection[Any], cluster_id: uuid.UUID,
                    n: int) -> list[tuple[str, NDArray[np.float32]]]:
    """The cluster's `n` distinct questions nearest its centroid, with their embeddings."""
    rows = conn.execute(
        "SELECT question, embedding FROM ("
        "  SELECT DISTINCT ON (lower(q.question)) q.question, q.embedding, q.embedding <=> c.centroid AS distance, "
        "         q.message_id "
        "  FROM ai.asked_questions q JOIN ai.gap_clusters c ON c.id = q.cluster_id "
        "  WHERE q.cluster_id = %s AND q.embedding IS NOT NULL "
        "  ORDER BY lower(q.question), q.embedding <=> c.centroid, q.message_id) d "
        "ORDER BY distance, message_id LIMIT %s", (cluster_id, n), binary=True).fetchall()
    return [(r["question"], r["embedding"].to_numpy()) for r in rows]


def mark_checked(conn: psycopg.Connection[Any], cluster_id: uuid.UUID, version: int, *, covered: bool,
                 lesson_id: uuid.UUID | None) -> bool:
    """Record the re-check on `version`: covered (status, version, time, lesson) or still open.
    True when the cluster turned covered now."""
    if covered:
        return conn.execute(
            "UPDATE ai.gap_clusters SET status = 'covered', covered_version = %s, covered_at = now(), "
            "covered_lesson_id = %s, checked_version = greatest(checked_version, %s), updated_at = now() "
            "WHERE id = %s AND status = 'open' RETURNING id", (version, lesson_id, version, cluster_id)
        ).fetchone() is not None
    conn.execute("UPDATE ai.gap_clusters SET checked_version = greatest(checked_version, %s) WHERE id = %s",
                 (version, cluster_id))
    return False
