"""Access tokens of live sessions for tests and benchmarks that act as a user without signing in
through the API: a session row opened as sign-in opens one (every HTTP function refuses a token
whose session is not live, `smartcourse.readonly.lms_sessions`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from smartcourse.accounts import domain
from smartcourse.accounts import repository as repo
from smartcourse.auth import issue_token


def session_token(target: str | psycopg.Connection[Any], user_id: uuid.UUID | str, role: str, secret: str,
                  ttl_s: int = 600) -> str:
    """A token of a new live session of `user_id` (a database URL, or a connection whose
    transaction the caller commits)."""
    uid = uuid.UUID(str(user_id))
    if isinstance(target, str):
        with psycopg.connect(target, autocommit=True) as conn:
            return session_token(conn, uid, role, secret, ttl_s)
    sid = repo.open_session(target, uid, datetime.now(UTC) + timedelta(days=1),
                            domain.token_hash(domain.new_refresh_token()), "127.0.0.1", "testkit")
    return issue_token(uid, role, secret, ttl_s, session_id=sid)
