"""LMS API -> notifications side, read-only: what it holds about a user, for `GET /me/export` (the
learner's right of access). The notifications side owns notify.*; this is the one place the LMS
reads it."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def of_user(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> dict[str, Any]:
    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(sql, (user_id,)).fetchall()]

    settings = conn.execute("SELECT timezone, quiet_start, quiet_end, updated_at FROM notify.user_settings "
                            "WHERE user_id = %s", (user_id,)).fetchone()
    return {
        "inbox": rows("SELECT id, type, title, body, link, created_at, read_at FROM notify.notifications "
                      "WHERE user_id = %s ORDER BY created_at, id"),
        "preferences": rows("SELECT type, channel, cadence, updated_at FROM notify.preferences WHERE user_id = %s "
                            "ORDER BY type, channel"),
        "settings": dict(settings) if settings else None,
        "emails": rows("SELECT type, to_address, subject, status, created_at, sent_at FROM notify.emails "
                       "WHERE user_id = %s ORDER BY created_at, id"),
        "texts": rows("SELECT type, to_number, body, status, created_at, sent_at FROM notify.sms "
                      "WHERE user_id = %s ORDER BY created_at, id"),
        "digests": rows("SELECT cadence, window_start, window_end, items, created_at FROM notify.digests "
                        "WHERE user_id = %s ORDER BY created_at, id"),
    }
