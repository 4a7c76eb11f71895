"""Account rules in plain Python: sign-in limits, what a refresh may do, who may change whom.

No SQL, no HTTP: the service reads the facts (failure times, the refresh token's row) and asks
these functions what follows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from smartcourse.errors import FieldProblem, RuleViolated

EndReason = Literal["logout", "logout_all", "password_changed", "account_disabled", "role_changed", "refresh_reuse",
                    "password_reset"]


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins over a sliding window (OWASP ASVS 2.2.1: limits without a long lock-out).

    - Per email (as typed, whether or not an account has it): the first `free_failures` cost
      nothing; each further one makes the next attempt wait `first_wait` doubled per failure, at
      most `max_wait` after the last failure. A real user locked out by someone guessing waits at
      most `max_wait`, and the guesser gets about `window / max_wait` more tries per window.
    - Per client address: `address_failures` failures in the window, across emails (credential
      stuffing), and that address waits until the oldest of them leaves the window.
    A successful sign-in clears its email's failures (not the address's).
    """

    window: timedelta = timedelta(minutes=15)
    free_failures: int = 5
    first_wait: timedelta = timedelta(seconds=30)
    max_wait: timedelta = timedelta(minutes=15)
    address_failures: int = 50

    def email_wait(self, failures: Sequence[datetime], now: datetime) -> timedelta:
        """How long the email must wait before its next attempt (0: it may try now)."""
        recent = sorted(t for t in failures if now - t < self.window)
        over = len(recent) - self.free_failures
        if over < 0:
            return timedelta(0)
        wait = min(self.first_wait * (2 ** min(over, 20)), self.max_wait)
        return max(recent[-1] + wait - now, timedelta(0))

    def address_wait(self, failures: Sequence[datetime], now: datetime) -> timedelta:
        recent = sorted(t for t in failures if now - t < self.window)
        if len(recent) < self.address_failures:
            return timedelta(0)
        return max(recent[-self.address_failures] + self.window - now, timedelta(0))


def retry_after_s(wait: timedelta) -> int:
    """Whole seconds for Retry-After (at least 1 when there is a wait)."""
    return max(1, math.ceil(wait.total_seconds()))


# --- refresh tokens -----------------------------------------------------------------------------

REFRESH_TOKEN_BYTES = 32


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    """What is stored of a refresh token (and looked up by): SHA-256 of its text."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class RefreshFacts:
    """The stored row a presented refresh token matched, with its session."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    used: bool
    issued_at: datetime
    session_ended: bool
    session_expires_at: datetime
    account_disabled: bool


RefreshOutcome = Literal["rotate", "reuse", "refused"]


def judge_refresh(facts: RefreshFacts | None, now: datetime, idle: timedelta) -> RefreshOutcome:
    """rotate: issue the next pair; reuse: a used token came back (end the session); refused: 401."""
    if facts is None or facts.session_ended or facts.account_disabled:
        return "refused"
    if facts.used:
        return "reuse"
    if now >= facts.session_expires_at or now - facts.issued_at >= idle:
        return "refused"
    return "rotate"


# --- administration -----------------------------------------------------------------------------

def check_admin_change(actor_id: uuid.UUID, subject_id: uuid.UUID, *, role: str | None, disabled: bool | None) -> None:
    """An administrator may not demote or disable their own account (the last admin would lock
    everyone out); another admin does it."""
    if actor_id != subject_id:
        return
    problems = []
    if role is not None and role != "admin":
        problems.append(FieldProblem("role", "an administrator cannot change their own role"))
    if disabled:
        problems.append(FieldProblem("disabled", "an administrator cannot disable their own account"))
    if problems:
        raise RuleViolated("administrators cannot demote or disable themselves", details=problems)


# --- emailed links: password reset, email verification --------------------------------------------

LinkPurpose = Literal["password_reset", "email_verification"]
LINK_PURPOSES: tuple[LinkPurpose, ...] = get_args(LinkPurpose)
#: the API path of each link's page (the token follows it)
LINK_PATHS: dict[LinkPurpose, str] = {"password_reset": "/auth/password-reset",
                                      "email_verification": "/auth/verify-email"}


def link_event(purpose: LinkPurpose) -> str:
    """The event (name) that asks NotificationsFunction to email a link of this purpose."""
    return f"user.{purpose}_requested"


def purpose_of(event_name: str) -> LinkPurpose:
    return next(p for p in LINK_PURPOSES if link_event(p) == event_name)
#: how long an emailed link works
LINK_LIFETIME: dict[LinkPurpose, timedelta] = {"password_reset": timedelta(minutes=30),
                                               "email_verification": timedelta(days=7)}
#: at most this many links of a purpose are emailed to one address per hour (more requests are
#: answered the same way and send nothing: no mail bombing through the form)
LINKS_PER_HOUR = 3
#: "<id as 32 hex>.<43 base64url>": what the OpenAPI document states for the path parameter
LINK_TOKEN_PATTERN = r"^[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$"


class InvalidLink(Exception):
    """Not a link of ours, tampered with, expired or already used."""


def _link_mac(key: bytes, purpose: LinkPurpose, link_id: uuid.UUID) -> str:
    mac = hmac.new(key, f"smartcourse.{purpose}.v1.{link_id.hex}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign_link(key: bytes, purpose: LinkPurpose, link_id: uuid.UUID) -> str:
    """The token of an emailed link (the notifications function signs it from the event's id)."""
    return f"{link_id.hex}.{_link_mac(key, purpose, link_id)}"


def link_url(base_url: str, key: bytes, purpose: LinkPurpose, link_id: uuid.UUID) -> str:
    """The emailed link: its page on the API at `base_url`, with the signed token."""
    return f"{base_url.rstrip('/')}{LINK_PATHS[purpose]}/{sign_link(key, purpose, link_id)}"


def link_id(key: bytes, purpose: LinkPurpose, token: str) -> uuid.UUID:
    """The id a genuine token of this purpose names; InvalidLink otherwise (the row decides
    whether it is still usable)."""
    ident, _, mac = token.partition(".")
    try:
        parsed = uuid.UUID(hex=ident)
    except ValueError:
        raise InvalidLink("the link is not valid") from None
    if len(ident) != 32 or not hmac.compare_digest(mac, _link_mac(key, purpose, parsed)):
        raise InvalidLink("the link is not valid")
    return parsed


def judge_link(used: bool, expires_at: datetime, account_disabled: bool, now: datetime) -> None:
    if used:
        raise InvalidLink("the link was already used: ask for a new one")
    if now >= expires_at:
        raise InvalidLink("the link has expired: ask for a new one")
    if account_disabled:
        raise InvalidLink("the link is not valid")
