"""Unsubscribe tokens: signed, expiring, single-purpose (plain Python).

A token names one (user, type, channel) and when it expires; it is
``base64url(payload) "." base64url(HMAC-SHA256(key, "smartcourse.unsubscribe.v1." payload))``.
The key is the deployment's JWT secret; the purpose prefix keeps a token from being anything but
an unsubscribe link (and a JWT from being one). No sign-in is needed to use it: holding it is the
proof, as in every one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

PURPOSE = b"smartcourse.unsubscribe.v1."
LIFETIME = timedelta(days=90)
#: what the OpenAPI document states for the path parameter
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{43}$"


@dataclass(frozen=True)
class Unsubscribe:
    user_id: uuid.UUID
    type: str
    channel: str


class InvalidToken(Exception):
    """Not a token of ours, tampered with, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, what: Unsubscribe, now: datetime) -> str:
    payload = _b64(json.dumps({"u": str(what.user_id), "t": what.type, "c": what.channel,
                               "e": int((now + LIFETIME).timestamp())}, separators=(",", ":")).encode())
    mac = hmac.new(key, PURPOSE + payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(key: bytes, token: str, now: datetime) -> Unsubscribe:
    payload, _, mac = token.partition(".")
    try:
        expected = hmac.new(key, PURPOSE + payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(mac), expected):
            raise InvalidToken("the link is not valid")
        data = json.loads(_unb64(payload))
        what = Unsubscribe(uuid.UUID(data["u"]), str(data["t"]), str(data["c"]))
        expires = int(data["e"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("the link is not valid") from exc
    if now.timestamp() > expires:
        raise InvalidToken("the link has expired: change your preferences in SmartCourse instead")
    return what
