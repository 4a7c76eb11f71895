"""notify.* in SQL (adapter). Every function runs in the caller's transaction; all SQL is
parameterised."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import psycopg

from smartcourse.notifications.domain import Cadence, Channel, Message, QuietHours

Conn = psycopg.Connection[Any]
_COLS = "id, type, title, body, link, created_at, read_at"


@dataclass(frozen=True, slots=True)
class Notification:
    id: uuid.UUID
    type: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserSettings:
    timezone: str
    quiet_start: time | None
    quiet_end: time | None

    @property
    def quiet_hours(self) -> QuietHours | None:
        return QuietHours(self.quiet_start, self.quiet_end) if self.quiet_start and self.quiet_end else None


def insert(conn: Conn, message: Message, event_id: uuid.UUID, *, merge: bool = False) -> uuid.UUID | None:
    """Store a notification unless one with its (user, type, dedupe key) exists. With ``merge``
    the existing one takes the new text and becomes unread again (changes merged within a hold).
    Its id when a notification was added or changed, else None."""
    conflict = ("DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, link = EXCLUDED.link, "
                "event_id = EXCLUDED.event_id, updated_at = now(), read_at = NULL "
                "WHERE notify.notifications.event_id <> EXCLUDED.event_id" if merge else "DO NOTHING")
    row = conn.execute(
        "INSERT INTO notify.notifications (id, user_id, type, dedupe_key, title, body, link, event_id) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, type, dedupe_key) {conflict} RETURNING id",
        (uuid.uuid4(), message.user_id, message.type, message.dedupe_key, message.title[:300], message.body[:2000],
         message.link, event_id)).fetchone()
    return row["id"] if row else None


def page(conn: Conn, user_id: uuid.UUID, *, unread: bool, after: tuple[datetime, uuid.UUID] | None,
         limit: int) -> list[Notification]:
    where = ["user_id = %s"]
    params: list[Any] = [user_id]
    if unread:
        where.append("read_at IS NULL")
    if after is not None:
        where.append("(created_at, id) < (%s, %s)")
        params.extend(after)
    rows = conn.execute(f"SELECT {_COLS} FROM notify.notifications WHERE {' AND '.join(where)} "
                        "ORDER BY created_at DESC, id DESC LIMIT %s", (*params, limit)).fetchall()
    return [Notification(**r) for r in rows]


def unread_count(conn: Conn, user_id: uuid.UUID) -> int:
    row = conn.execute("SELECT count(*) AS n FROM notify.notifications WHERE user_id = %s AND read_at IS NULL",
                       (user_id,)).fetchone()
    return int(row["n"]) if row else 0


def mark_read(conn: Conn, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    row = conn.execute(f"UPDATE notify.notifications SET read_at = coalesce(read_at, now()) "
                       f"WHERE id = %s AND user_id = %s RETURNING {_COLS}", (notification_id, user_id)).fetchone()
    return Notification(**row) if row else None


def mark_all_read(conn: Conn, user_id: uuid.UUID) -> int:
    cur = conn.execute("UPDATE notify.notifications SET read_at = now() WHERE user_id = %s AND read_at IS NULL",
                       (user_id,))
    return cur.rowcount


def stored_preferences(conn: Conn, user_id: uuid.UUID) -> dict[tuple[str, Channel], Cadence]:
    rows = conn.execute("SELECT type, channel, cadence FROM notify.preferences WHERE user_id = %s",
                        (user_id,)).fetchall()
    return {(r["type"], r["channel"]): r["cadence"] for r in rows}


def save_preferences(conn: Conn, user_id: uuid.UUID, changes: list[tuple[str, Channel, Cadence]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notify.preferences (user_id, type, channel, cadence) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (user_id, type, channel) DO UPDATE SET cadence = EXCLUDED.cadence, updated_at = now()",
            [(user_id, t, c, cadence) for t, c, cadence in changes])


def user_settings(conn: Conn, user_id: uuid.UUID) -> UserSettings | None:
    row = conn.execute("SELECT timezone, quiet_start, quiet_end FROM notify.user_settings WHERE user_id = %s",
                       (user_id,)).fetchone()
    return UserSettings(**row) if row else None


def save_user_settings(conn: Conn, user_id: uuid.UUID, settings: UserSettings) -> None:
    conn.execute(
        "INSERT INTO notify.user_settings (user_id, timezone, quiet_start, quiet_end) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (user_id) DO UPDATE SET timezone = EXCLUDED.timezone, quiet_start = EXCLUDED.quiet_start, "
        "quiet_end = EXCLUDED.quiet_end, updated_at = now()",
        (user_id, settings.timezone, settings.quiet_start, settings.quiet_end))


# --- emails ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QueuedEmail:
    id: uuid.UUID
    user_id: uuid.UUID
    type: str
    to_address: str
    subject: str
    text_body: str
    html_body: str
    attempts: int
    unsubscribe_url: str


def enqueue_email(conn: Conn, notification_id: uuid.UUID, message: Message, to_address: str, subject: str,
                  text_body: str, html_body: str, unsubscribe_url: str, due_at: datetime, status: str) -> None:
    """One email per notification: a merged notification updates its email while it waits."""
    conn.execute(
        "INSERT INTO notify.emails (id, notification_id, user_id, type, to_address, subject, text_body, html_body, "
        "unsubscribe_url, due_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (notification_id) DO UPDATE SET subject = EXCLUDED.subject, text_body = EXCLUDED.text_body, "
        "html_body = EXCLUDED.html_body WHERE notify.emails.status = 'pending'",
        (uuid.uuid4(), notification_id, message.user_id, message.type, to_address, subject, text_body, html_body,
         unsubscribe_url, due_at, status))


def enqueue_account_email(conn: Conn, link_id: uuid.UUID, user_id: uuid.UUID, type_: str, to_address: str,
                          subject: str, text_body: str, html_body: str, status: str) -> None:
    """One email per account link (a replayed event adds nothing); due now, no unsubscribe link."""
    conn.execute(
        "INSERT INTO notify.emails (id, account_token_id, user_id, type, to_address, subject, text_body, html_body, "
        "unsubscribe_url, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '', %s) "
        "ON CONFLICT (account_token_id) DO NOTHING",
        (uuid.uuid4(), link_id, user_id, type_, to_address, subject, text_body, html_body, status))


def is_suppressed(conn: Conn, address: str) -> bool:
    return conn.execute("SELECT 1 FROM notify.suppressions WHERE address = %s",
                        (address.lower(),)).fetchone() is not None


def suppress(conn: Conn, address: str, reason: str) -> bool:
    """Add ``address`` (lower-cased) to the suppressions; True if it was not there. An address
    already suppressed keeps its first reason and date (a replayed message changes nothing)."""
    return conn.execute("INSERT INTO notify.suppressions (address, reason) VALUES (%s, %s) "
                        "ON CONFLICT (address) DO NOTHING RETURNING address",
                        (address.lower(), reason)).fetchone() is not None


def fail_stale_sending(conn: Conn, older_than: datetime) -> int:
    """Emails claimed before ``older_than`` and never marked: the sender stopped mid-send, so
    whether SES took them is unknown; they are not sent again (at most once)."""
    return conn.execute("UPDATE notify.emails SET status = 'failed', last_error = 'outcome unknown: the sender "
                        "stopped while sending' WHERE status = 'sending' AND claimed_at < %s",
                        (older_than,)).rowcount


def claim_due(conn: Conn, now: datetime, limit: int) -> list[QueuedEmail]:
    rows = conn.execute(
        "UPDATE notify.emails e SET status = 'sending', attempts = e.attempts + 1, claimed_at = now() "
        "FROM (SELECT id FROM notify.emails WHERE status = 'pending' AND due_at <= %s ORDER BY due_at "
        "      LIMIT %s FOR UPDATE SKIP LOCKED) due WHERE e.id = due.id "
        "RETURNING e.id, e.user_id, e.type, e.to_address, e.subject, e.text_body, e.html_body, e.attempts, "
        "e.unsubscribe_url", (now, limit)).fetchall()
    return [QueuedEmail(**r) for r in rows]


def settle_email(conn: Conn, email_id: uuid.UUID, status: str, *, error: str | None = None,
                 message_id: str | None = None, retry_at: datetime | None = None) -> None:
    """sent (``message_id``: SES's) / failed / suppressed / cancelled, or back to pending at ``retry_at``."""
    conn.execute("UPDATE notify.emails SET status = %s, last_error = coalesce(%s, last_error), "
                 "ses_message_id = %s, sent_at = CASE WHEN %s = 'sent' THEN now() END, "
                 "due_at = coalesce(%s, due_at) WHERE id = %s",
                 (status, error, message_id, status, retry_at, email_id))


# --- text messages (SMS) -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QueuedSms:
    id: uuid.UUID
    user_id: uuid.UUID
    type: str
    to_number: str
    body: str | None
    phone_code_id: uuid.UUID | None
    expires_at: datetime | None
    attempts: int


def enqueue_sms(conn: Conn, notification_id: uuid.UUID, message: Message, to_number: str, body: str,
                due_at: datetime) -> None:
    """One text per notification (a replayed or merged notification adds none)."""
    conn.execute(
        "INSERT INTO notify.sms (id, notification_id, user_id, type, to_number, body, due_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (notification_id) DO NOTHING",
        (uuid.uuid4(), notification_id, message.user_id, message.type, to_number, body, due_at))


def enqueue_code_sms(conn: Conn, code_id: uuid.UUID, user_id: uuid.UUID, to_number: str,
                     expires_at: datetime) -> None:
    """One text per phone verification code, due now; no body: the sender derives the code."""
    conn.execute(
        "INSERT INTO notify.sms (id, phone_code_id, user_id, type, to_number, expires_at) "
        "VALUES (%s, %s, %s, 'phone_verification', %s, %s) ON CONFLICT (phone_code_id) DO NOTHING",
        (uuid.uuid4(), code_id, user_id, to_number, expires_at))


def fail_stale_sms(conn: Conn, older_than: datetime) -> int:
    """Texts claimed before ``older_than`` and never settled: not sent again (at most once)."""
    return conn.execute("UPDATE notify.sms SET status = 'failed', last_error = 'outcome unknown: the sender "
                        "stopped while sending' WHERE status = 'sending' AND claimed_at < %s",
                        (older_than,)).rowcount


def claim_due_sms(conn: Conn, now: datetime, limit: int, *, codes_only: bool = False) -> list[QueuedSms]:
    """Due texts (only verification codes with ``codes_only``), claimed ('sending')."""
    rows = conn.execute(
        "UPDATE notify.sms m SET status = 'sending', attempts = m.attempts + 1, claimed_at = now() "
        "FROM (SELECT id FROM notify.sms WHERE status = 'pending' AND due_at <= %s "
        "      AND (NOT %s OR phone_code_id IS NOT NULL) ORDER BY due_at "
        "      LIMIT %s FOR UPDATE SKIP LOCKED) due WHERE m.id = due.id "
        "RETURNING m.id, m.user_id, m.type, m.to_number, m.body, m.phone_code_id, m.expires_at, m.attempts",
        (now, codes_only, limit)).fetchall()
    return [QueuedSms(**r) for r in rows]


def settle_sms(conn: Conn, sms_id: uuid.UUID, status: str, *, error: str | None = None,
               message_id: str | None = None, retry_at: datetime | None = None) -> None:
    """sent (``message_id``: SNS's) / failed / cancelled, or back to pending at ``retry_at``."""
    conn.execute("UPDATE notify.sms SET status = %s, last_error = coalesce(%s, last_error), "
                 "sns_message_id = %s, sent_at = CASE WHEN %s = 'sent' THEN now() END, "
                 "due_at = coalesce(%s, due_at) WHERE id = %s",
                 (status, error, message_id, status, retry_at, sms_id))


# --- digests ---------------------------------------------------------------------------------------

def take_job(conn: Conn, name: str, every_s: float) -> bool:
    """True for the one run that may do job ``name`` now (not done within ``every_s`` seconds)."""
    return conn.execute("UPDATE notify.jobs SET last_run_at = now() WHERE name = %s "
                        "AND last_run_at < now() - make_interval(secs => %s) RETURNING name",
                        (name, every_s)).fetchone() is not None


def recent_recipients(conn: Conn, since: datetime) -> list[uuid.UUID]:
    rows = conn.execute("SELECT DISTINCT user_id FROM notify.notifications WHERE created_at >= %s ORDER BY user_id",
                        (since,)).fetchall()
    return [r["user_id"] for r in rows]


def notifications_between(conn: Conn, user_id: uuid.UUID, types: list[str], start: datetime,
                          end: datetime) -> list[Message]:
    rows = conn.execute("SELECT user_id, type, dedupe_key, title, body, link FROM notify.notifications "
                        "WHERE user_id = %s AND type = ANY(%s) AND created_at >= %s AND created_at < %s "
                        "ORDER BY created_at DESC, id DESC", (user_id, types, start, end)).fetchall()
    return [Message(**r) for r in rows]


def insert_digest(conn: Conn, user_id: uuid.UUID, cadence: str, start: datetime, end: datetime,
                  items: int) -> uuid.UUID | None:
    """The digest's id, or None when this user's window already has one (another run made it)."""
    row = conn.execute("INSERT INTO notify.digests (id, user_id, cadence, window_start, window_end, items) "
                       "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, cadence, window_start) DO NOTHING "
                       "RETURNING id", (uuid.uuid4(), user_id, cadence, start, end, items)).fetchone()
    return row["id"] if row else None


def enqueue_digest_email(conn: Conn, digest_id: uuid.UUID, user_id: uuid.UUID, type_: str, to_address: str,
                         subject: str, text_body: str, html_body: str, unsubscribe_url: str, due_at: datetime,
                         status: str) -> None:
    conn.execute(
        "INSERT INTO notify.emails (id, digest_id, user_id, type, to_address, subject, text_body, html_body, "
        "unsubscribe_url, due_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (uuid.uuid4(), digest_id, user_id, type_, to_address, subject, text_body, html_body, unsubscribe_url,
         due_at, status))


def watermark(conn: Conn, name: str) -> datetime:
    """The position a scan reached (locked until the transaction ends: one scan at a time)."""
    row = conn.execute("SELECT position FROM notify.watermarks WHERE name = %s FOR UPDATE", (name,)).fetchone()
    return row["position"] if row else datetime(1970, 1, 1, tzinfo=UTC)


def move_watermark(conn: Conn, name: str, position: datetime) -> None:
    conn.execute("UPDATE notify.watermarks SET position = greatest(position, %s) WHERE name = %s", (position, name))


def erase_user(conn: Conn, user_id: uuid.UUID) -> dict[str, int]:
    """Delete everything notify.* holds about one user (an account deletion); counts per table."""
    out = {}
    for table in ("emails", "sms", "digests", "notifications", "preferences", "user_settings"):
        out[table] = conn.execute(f"DELETE FROM notify.{table} WHERE user_id = %s", (user_id,)).rowcount
    return out
