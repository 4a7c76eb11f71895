"""Every HTTP function -> LMS, read-only: is the session an access token names still live?

An access token is valid until it expires (15 minutes at most); a session can end before that (sign
out, sign out everywhere, a password change, an administrator disabling the account or changing
its role, a refresh token used twice). Every authenticated request of every function (the LMS API,
the assistant) asks `is_live` after checking the token's signature, so an ended session's tokens
are refused on their next use. One indexed lookup by primary key, one round trip
(`Database.fetch_one`, outside a transaction block).
"""

from __future__ import annotations

from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.errors import Unauthorized

_LIVE = ("SELECT 1 FROM lms.sessions s JOIN lms.users u ON u.id = s.user_id "
         "WHERE s.id = %s AND s.user_id = %s AND s.ended_at IS NULL AND s.expires_at > now() "
         "AND u.disabled_at IS NULL")


def require_live(db: Database, principal: Principal) -> Principal:
    """The principal, or 401 when its session has ended or its account is disabled."""
    live = principal.session_id is not None and db.fetch_one(_LIVE, (principal.session_id, principal.user_id))
    if not live:
        raise Unauthorized("the session has ended; sign in again")
    return principal
