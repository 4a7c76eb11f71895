"""The assistant's part of an account deletion (`user.deleted`): SQL only, so IngestFunction, the
AI side's consumer, runs it without importing the assistant's retrieval code."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def erase_user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> dict[str, int]:
    """Delete what the assistant holds about one user: their conversations (messages, and every
    rating of them, go with them), their ratings elsewhere, their rate counters."""
    return {
        "feedback": conn.execute("DELETE FROM ai.message_feedback WHERE user_id = %s", (user_id,)).rowcount,
        "conversations": conn.execute("DELETE FROM ai.conversations WHERE user_id = %s", (user_id,)).rowcount,
        "rate_limits": conn.execute("DELETE FROM ai.assistant_rate_limits WHERE user_id = %s", (user_id,)).rowcount,
    }
