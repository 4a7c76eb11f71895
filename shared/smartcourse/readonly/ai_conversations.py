"""LMS API -> AI side, read-only: a user's assistant conversations, for `GET /me/export` (the
learner's right of access). The AI side owns ai.*; this is the one place the LMS reads it."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def of_user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each conversation with its messages (question and answer texts, citations) and the user's
    ratings, oldest first."""
    conversations = conn.execute(
        "SELECT id, course_id, course_version, title, created_at, updated_at FROM ai.conversations "
        "WHERE user_id = %s ORDER BY created_at, id", (user_id,)).fetchall()
    out = []
    for c in conversations:
        messages = conn.execute(
            "SELECT m.id, m.role, m.content, m.refused, m.citations, m.created_at, f.helpful, f.comment "
            "FROM ai.messages m LEFT JOIN ai.message_feedback f ON f.message_id = m.id AND f.user_id = %s "
            "WHERE m.conversation_id = %s ORDER BY m.seq", (user_id, c["id"])).fetchall()
        out.append({**dict(c), "messages": [
            {"id": m["id"], "role": m["role"], "content": m["content"], "refused": m["refused"],
             "citations": m["citations"] or [], "created_at": m["created_at"],
             "feedback": None if m["helpful"] is None else {"helpful": m["helpful"], "comment": m["comment"]}}
            for m in messages]})
    return out
