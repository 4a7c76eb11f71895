"""Sending what is queued (NotificationsFunction's schedule): one sender for emails and texts.

Every message is sent at most once: claimed ('sending', committed) before the provider's call,
settled after it; a row left 'sending' by a crash is failed ("outcome unknown") after
``stale_after_s`` and never sent again. Just before the call the channel checks the message is
still wanted (else it is settled as a `Skip` says, unsent). A failure the adapter calls transient
(throttling, 5xx: `domain.SendFailed`) puts the message back ``retry_after_s`` x attempts later, up
to ``max_attempts``; anything else fails it with the provider's error code.

What differs between the channels is a `Channel`: its queue in notify.* (claim, settle, stale),
its check, its adapter (SES for emails, SNS for texts) and the names of its counts, metrics and
log lines. The channels themselves are `email_channel` and `sms_channel`; `service.deliver_due`
and `service.deliver_due_sms` run them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from smartcourse.accounts.domain import CODE_LIFETIME, phone_code
from smartcourse.db import Database
from smartcourse.notifications import domain
from smartcourse.notifications import repository as repo
from smartcourse.notifications.domain import Outgoing, OutgoingSms, SendFailed
from smartcourse.notifications.repository import Conn
from smartcourse.observability import count, logger
from smartcourse.readonly import lms_people


class Queued(Protocol):
    """A claimed row of a channel's queue."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def attempts(self) -> int: ...


class Settle(Protocol):
    """How a channel's queue records a message's outcome: sent (with the provider's message id),
    failed, suppressed, cancelled, or back to pending at ``retry_at``."""

    def __call__(
        self,
        conn: Conn,
        id_: uuid.UUID,
        status: str,
        /,
        *,
        error: str | None = None,
        message_id: str | None = None,
        retry_at: datetime | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Skip:
    """A claimed message not to send after all: settled with ``status`` (and ``error``)."""

    status: str
    error: str | None = None


Q = TypeVar("Q", bound=Queued)
P = TypeVar("P")


@dataclass(frozen=True)
class Channel(Generic[Q, P]):
    """One channel's part in `deliver`. ``prefix`` starts the keys of the counts it returns;
    ``skips`` are the statuses its check may settle (counted in that order); ``metrics`` maps a
    count to the metric it is reported as ("failed" includes the stale); ``check`` gives what to
    send (``P``) or a `Skip`, in the transaction that may settle it."""

    noun: str
    id_key: str
    prefix: str
    skips: tuple[str, ...]
    metrics: Mapping[str, str]
    fail_stale: Callable[[Conn, datetime], int]
    claim: Callable[[Conn, datetime, int], Sequence[Q]]
    check: Callable[[Conn, Q, datetime], P | Skip]
    send: Callable[[P], str]
    settle: Settle


def deliver(
    database: Database,
    channel: Channel[Q, P],
    *,
    batch: int,
    max_attempts: int,
    retry_after_s: float,
    stale_after_s: float,
    now: datetime,
) -> dict[str, int]:
    """Send the channel's messages that are due (at most ``batch``); the counts by outcome."""
    n = {name: 0 for name in ("sent", "failed", "retried", *channel.skips, "stale")}
    with database.transaction() as conn:
        n["stale"] = channel.fail_stale(conn, now - timedelta(seconds=stale_after_s))
        due = channel.claim(conn, now, batch)
    for item in due:
        with database.transaction() as conn:
            ready = channel.check(conn, item, now)
            if isinstance(ready, Skip):
                channel.settle(conn, item.id, ready.status, error=ready.error)
                n[ready.status] += 1
                continue
        try:
            message_id = channel.send(ready)
        except SendFailed as exc:
            retry = exc.transient and item.attempts < max_attempts
            retry_at = now + timedelta(seconds=retry_after_s * item.attempts) if retry else None
            with database.transaction() as conn:
                channel.settle(conn, item.id, "pending" if retry else "failed", error=str(exc), retry_at=retry_at)
            n["retried" if retry else "failed"] += 1
            extra = {channel.id_key: str(item.id), "retry": retry, "error": str(exc)}
            logger.warning(f"{channel.noun} not sent", extra=extra)
            continue
        with database.transaction() as conn:
            channel.settle(conn, item.id, "sent", message_id=message_id)
        n["sent"] += 1
    for name, metric in channel.metrics.items():
        count(metric, n[name] + (n["stale"] if name == "failed" else 0))
    out = {channel.prefix + name: value for name, value in n.items()}
    if due or n["stale"]:
        logger.info(f"{channel.noun}s delivered", extra=out)
    return out


# --- emails (SES) ------------------------------------------------------------------------------------


class Mailer(Protocol):
    def send(self, mail: Outgoing) -> str: ...


def email_cadences(conn: Conn, user_id: uuid.UUID) -> dict[str, str]:
    """type -> the user's email cadence, for the types that offer email."""
    prefs = domain.effective(repo.stored_preferences(conn, user_id), "UTC", None)
    return {t: ch["email"].cadence for t, ch in prefs.types.items() if "email" in ch}


def _still_wanted(conn: Conn, user_id: uuid.UUID, email_type: str) -> bool:
    """A queued email is still wanted: its type still emailed immediately, or for a digest, some
    type still batched at its cadence."""
    if email_type in domain.ACCOUNT_EMAILS:
        return True  # the account's own security mail: not a preference
    cadences = email_cadences(conn, user_id)
    cadence = domain.digest_cadence_of(email_type)
    return cadence in cadences.values() if cadence else cadences.get(email_type) == "immediately"


def _email_check(conn: Conn, mail: repo.QueuedEmail, now: datetime) -> Outgoing | Skip:
    """The address suppressed since the email was queued (a bounce, a complaint), or its
    preference turned off: not sent."""
    if repo.is_suppressed(conn, mail.to_address):
        return Skip("suppressed")
    if not _still_wanted(conn, mail.user_id, mail.type):
        return Skip("cancelled", "email turned off after it was queued")
    return Outgoing(mail.to_address, mail.subject, mail.text_body, mail.html_body, mail.unsubscribe_url)


def email_channel(mailer: Mailer) -> Channel[repo.QueuedEmail, Outgoing]:
    """notify.emails through SES. Counts sent, failed, retried, suppressed, cancelled, stale."""
    return Channel(
        noun="email",
        id_key="email_id",
        prefix="",
        skips=("suppressed", "cancelled"),
        metrics={
            "sent": "EmailsSent",
            "failed": "EmailsFailed",
            "retried": "EmailsRetried",
            "suppressed": "EmailsSuppressed",
        },
        fail_stale=repo.fail_stale_sending,
        claim=repo.claim_due,
        check=_email_check,
        send=mailer.send,
        settle=repo.settle_email,
    )


# --- text messages (SNS) ------------------------------------------------------------------------------


class Texter(Protocol):
    def send(self, sms: OutgoingSms) -> str: ...


def _sms_text(conn: Conn, key: bytes, sms: repo.QueuedSms, now: datetime) -> str | None:
    """What to text, or None when it is no longer wanted: a code past its expiry, a number that is
    no longer the user's verified one, or SMS turned off for the type since it was queued."""
    if sms.phone_code_id is not None:
        if sms.expires_at is not None and now >= sms.expires_at:
            return None
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        return domain.verification_sms(phone_code(key, sms.phone_code_id, sms.to_number), minutes)
    if lms_people.verified_phone_of(conn, sms.user_id) != sms.to_number:
        return None
    prefs = domain.effective(repo.stored_preferences(conn, sms.user_id), "UTC", None)
    pref = prefs.types.get(sms.type, {}).get("sms")
    return sms.body if pref is not None and pref.cadence == "immediately" else None


def _sms_check(key: bytes, conn: Conn, sms: repo.QueuedSms, now: datetime) -> OutgoingSms | Skip:
    text = _sms_text(conn, key, sms, now)
    if text is None:
        why = "no longer wanted when its turn came (code expired, number changed or SMS turned off)"
        return Skip("cancelled", why)
    return OutgoingSms(sms.to_number, text)


def sms_channel(texter: Texter, key: bytes, *, codes_only: bool = False) -> Channel[repo.QueuedSms, OutgoingSms]:
    """notify.sms through SNS; a verification code is derived from its id with ``key`` when it is
    sent. ``codes_only``: just the verification codes. Counts sms_sent, sms_failed, sms_retried,
    sms_cancelled, sms_stale."""
    return Channel(
        noun="text",
        id_key="sms_id",
        prefix="sms_",
        skips=("cancelled",),
        metrics={"sent": "SmsSent", "failed": "SmsFailed", "retried": "SmsRetried", "cancelled": "SmsCancelled"},
        fail_stale=repo.fail_stale_sms,
        claim=functools.partial(repo.claim_due_sms, codes_only=codes_only),
        check=functools.partial(_sms_check, key),
        send=texter.send,
        settle=repo.settle_sms,
    )
