"""Account rules in plain Python: sign-in limits, what a refresh may do, who may change whom.

No SQL, no HTTP: the service reads the facts (failure times, the refresh token's row) and asks
these functions what follows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
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


# --- phone numbers: verified by a code sent by SMS ---------------------------------------------------

#: E.164: "+", a country code that does not start with 0, at most 15 digits in all (8 at least:
#: the shortest numbers in use with their country code)
PHONE_PATTERN = r"^\+[1-9][0-9]{7,14}$"
CODE_PATTERN = r"^[0-9]{6}$"
CODE_DIGITS = 6
#: how long a texted code works
CODE_LIFETIME = timedelta(minutes=10)
#: wrong codes entered before the code stops working (a new one must be sent)
CODE_ATTEMPTS = 5
#: at most this many codes are texted per account, and per number (whoever asks), in an hour
CODES_PER_HOUR = 3
CODE_WINDOW = timedelta(hours=1)
_CODE_PURPOSE = "smartcourse.phone_verification.v1."


def is_e164(phone: str) -> bool:
    """Whether ``phone`` is an E.164 number as the API takes it (no spaces or punctuation)."""
    return re.fullmatch(PHONE_PATTERN, phone) is not None


def phone_code(key: bytes, code_id: uuid.UUID, phone: str) -> str:
    """The 6-digit code of a verification (the API checks it, NotificationsFunction texts it): an
    HMAC of the code's id and the number, so it is stored nowhere and is good for that number only
    (the bias of reducing 64 bits modulo 10**6 is below 10**-13)."""
    mac = hmac.new(key, f"{_CODE_PURPOSE}{code_id.hex}.{phone}".encode(), hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


@dataclass(frozen=True)
class PhoneCodeFacts:
    """The newest open code of an account (its row)."""

    id: uuid.UUID
    phone: str
    expires_at: datetime
    attempts: int


CodeOutcome = Literal["verified", "wrong"]


def judge_code(key: bytes, facts: PhoneCodeFacts | None, current_phone: str | None, entered: str,
               now: datetime) -> CodeOutcome:
    """verified, or wrong (one more attempt is counted); RuleViolated on ``code`` when no attempt
    can succeed: no code is waiting, it expired, or it was guessed at too often."""
    if facts is None or current_phone is None or facts.phone != current_phone:
        raise RuleViolated("no code is waiting for this account",
                           details=[FieldProblem("code", "no code was sent: ask for one (PUT /me/phone)")])
    if now >= facts.expires_at:
        raise RuleViolated("the code has expired",
                           details=[FieldProblem("code", "has expired: ask for a new one (PUT /me/phone)")])
    if facts.attempts >= CODE_ATTEMPTS:
        raise RuleViolated("too many wrong codes",
                           details=[FieldProblem("code", f"was entered wrong {CODE_ATTEMPTS} times: ask for a new "
                                                         "one (PUT /me/phone)")])
    if hmac.compare_digest(phone_code(key, facts.id, facts.phone), entered):
        return "verified"
    return "wrong"


def wrong_code(attempts_after: int) -> RuleViolated:
    """The answer to a wrong code, saying how many tries are left."""
    left = max(0, CODE_ATTEMPTS - attempts_after)
    what = f"does not match ({left} {'try' if left == 1 else 'tries'} left)" if left else \
        "does not match, and that was the last try: ask for a new code (PUT /me/phone)"
    return RuleViolated("the code is not right", details=[FieldProblem("code", what)])


def code_send_wait(by_account: Sequence[datetime], by_phone: Sequence[datetime], now: datetime) -> timedelta:
    """How long until another code may be texted: 0, or until the oldest of the last
    CODES_PER_HOUR codes of the account or of the number leaves the hour."""
    wait = timedelta(0)
    for sent in (by_account, by_phone):
        recent = sorted(t for t in sent if now - t < CODE_WINDOW)
        if len(recent) >= CODES_PER_HOUR:
            wait = max(wait, recent[-CODES_PER_HOUR] + CODE_WINDOW - now)
    return wait
