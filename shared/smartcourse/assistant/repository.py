"""Conversations, messages, feedback and rate-limit counters in the ai schema (adapter: SQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from smartcourse.assistant.domain import Turn


@dataclass(frozen=True)
class RateCheck:
    allowed: bool
    count: int
    limit: int
    retry_after_s: int


def hit_rate_limit(conn: psycopg.Connection[Any], user_id: uuid.UUID, action: str, limit: int,
                   window_s: int = 60) -> RateCheck:
    """Count one request in the user's current fixed window; allowed while count <= limit."""
    row = conn.execute(
        """
        WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM clock_timestamp()) / %(w)s) * %(w)s) AS start)
        INSERT INTO ai.assistant_rate_limits AS r (user_id, action, window_start, count)
        SELECT %(u)s, %(a)s, w.start, 1 FROM w
        ON CONFLICT (user_id, action, window_start) DO UPDATE SET count = r.count + 1
        RETURNING r.count,
                  GREATEST(1, ceil(extract(epoch FROM r.window_start + make_interval(secs => %(w)s)
                                                   - clock_timestamp())))::int AS retry_after
        """,
        {"u": user_id, "a": action, "w": window_s},
    ).fetchone()
    assert row is not None
    conn.execute(
        "DELETE FROM ai.assistant_rate_limits WHERE user_id = %s AND action = %s "
        "AND window_start < clock_timestamp() - make_interval(secs => %s)",
        (user_id, action, window_s * 10),
    )
    count = int(row["count"])
    return RateCheck(count <= limit, count, limit, int(row["retry_after"]))


@dataclass(frozen=True, slots=True)
class Conversation:
    id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    course_version: int | None
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: uuid.UUID
    seq: int
    role: str
    content: str
    refused: bool | None
    model: str | None
    citations: list[dict[str, Any]] | None
    created_at: datetime
    reason: str | None
    helpful: bool | None     # the asker's feedback, if any
    comment: str | None


@dataclass(frozen=True, slots=True)
class Feedback:
    message_id: uuid.UUID
    helpful: bool
    comment: str | None
    created_at: datetime
    updated_at: datetime


def get_conversation(conn: psycopg.Connection[Any], conversation_id: uuid.UUID) -> Conversation | None:
    row = conn.execute(
        "SELECT id, course_id, user_id, course_version, title, message_count, created_at, updated_at "
        "FROM ai.conversations WHERE id = %s",
        (conversation_id,),
    ).fetchone()
    return Conversation(**row) if row is not None else None


def recent_turns(conn: psycopg.Connection[Any], conversation_id: uuid.UUID, turns: int) -> list[Turn]:
    """The last `turns` question/answer pairs, oldest first (refused answers left out)."""
    if turns <= 0:
        return []
    rows = conn.execute(
        "SELECT role, content, refused FROM ai.messages WHERE conversation_id = %s ORDER BY seq DESC LIMIT %s",
        (conversation_id, turns * 2),
    ).fetchall()
    return [Turn(**r) for r in reversed(rows)]


def list_messages(conn: psycopg.Connection[Any], conversation_id: uuid.UUID) -> list[Message]:
    rows = conn.execute(
        "SELECT m.id, m.seq, m.role, m.content, m.refused, m.model, m.citations, m.created_at, "
        "       m.retrieval->>'reason' AS reason, "
        "       f.helpful, f.comment "
        "FROM ai.messages m LEFT JOIN ai.message_feedback f "
        "  ON f.message_id = m.id AND f.user_id = (SELECT user_id FROM ai.conversations WHERE id = m.conversation_id) "
        "WHERE m.conversation_id = %s ORDER BY m.seq",
        (conversation_id,),
    ).fetchall()
    return [Message(**r) for r in rows]


@dataclass(frozen=True)
class Exchange:
    conversation_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    course_version: int | None
    question: str
    answer: str
    refused: bool
    model: str
    citations: list[dict[str, Any]]
    retrieved_chunk_ids: list[int]
    retrieval: dict[str, Any]


def save_exchange(conn: psycopg.Connection[Any], ex: Exchange, *, new_conversation: bool,
                  now: datetime | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """The question and its answer, in the caller's transaction; (user message id, answer id)."""
    if new_conversation:
        conn.execute(
            "INSERT INTO ai.conversations (id, course_id, user_id, course_version, title) VALUES (%s, %s, %s, %s, %s)",
            (ex.conversation_id, ex.course_id, ex.user_id, ex.course_version, ex.question[:120]),
        )
    row = conn.execute(
        "UPDATE ai.conversations SET message_count = message_count + 2, updated_at = now() "
        "WHERE id = %s RETURNING message_count",
        (ex.conversation_id,),
    ).fetchone()
    assert row is not None
    seq = int(row["message_count"]) - 1
    question_id, answer_id = uuid.uuid4(), uuid.uuid4()
    conn.execute(
        "INSERT INTO ai.messages (id, conversation_id, seq, role, content, course_version) "
        "VALUES (%s, %s, %s, 'user', %s, %s)",
        (question_id, ex.conversation_id, seq, ex.question, ex.course_version),
    )
    conn.execute(
        "INSERT INTO ai.messages (id, conversation_id, seq, role, content, refused, model, citations, "
        "                         retrieved_chunk_ids, retrieval, course_version) "
        "VALUES (%s, %s, %s, 'assistant', %s, %s, %s, %s, %s, %s, %s)",
        (answer_id, ex.conversation_id, seq + 1, ex.answer, ex.refused, ex.model, Jsonb(ex.citations),
         ex.retrieved_chunk_ids, Jsonb(ex.retrieval), ex.course_version),
    )
    return question_id, answer_id


def message_role(conn: psycopg.Connection[Any], conversation_id: uuid.UUID, message_id: uuid.UUID) -> str | None:
    """The role (user | assistant) of a message of the conversation; None if it is not one of its."""
    row = conn.execute(
        "SELECT role FROM ai.messages WHERE id = %s AND conversation_id = %s", (message_id, conversation_id)
    ).fetchone()
    return str(row["role"]) if row is not None else None


def upsert_feedback(conn: psycopg.Connection[Any], message_id: uuid.UUID, user_id: uuid.UUID, helpful: bool,
                    comment: str | None) -> Feedback:
    row = conn.execute(
        "INSERT INTO ai.message_feedback (message_id, user_id, helpful, comment) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (message_id, user_id) DO UPDATE SET helpful = EXCLUDED.helpful, comment = EXCLUDED.comment, "
        "  updated_at = now() "
        "RETURNING message_id, helpful, comment, created_at, updated_at",
        (message_id, user_id, helpful, comment),
    ).fetchone()
    assert row is not None
    return Feedback(**row)
