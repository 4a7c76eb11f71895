"""SQL of accounts: users as an administrator sees them, sessions and their refresh tokens,
failed sign-ins, the audit log (migrations/0080_accounts_sessions.sql)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from smartcourse.accounts.domain import EndReason, PhoneCodeFacts, RefreshFacts

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Account:
    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    email_verified_at: datetime | None = None
    phone: str | None = None
    phone_verified_at: datetime | None = None
    password_hash: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: uuid.UUID
    at: datetime
    action: str
    actor_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    client_ip: str | None
    details: dict[str, Any]


_ACCOUNT = "id, email, name, role, created_at, disabled_at, email_verified_at, phone, phone_verified_at"


# --- accounts --------------------------------------------------------------------------------------

def account_by_email(conn: Conn, email: str) -> Account | None:
    row = conn.execute(f"SELECT {_ACCOUNT}, password_hash FROM lms.users WHERE email = %s", (email,)).fetchone()
    return Account(**row) if row else None


def account_by_id(conn: Conn, user_id: uuid.UUID, *, lock: bool = False) -> Account | None:
    row = conn.execute(f"SELECT {_ACCOUNT}, password_hash FROM lms.users WHERE id = %s"
                       + (" FOR UPDATE" if lock else ""), (user_id,)).fetchone()
    return Account(**row) if row else None


def set_password(conn: Conn, user_id: uuid.UUID, password_hash: str) -> None:
    conn.execute("UPDATE lms.users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def update_account(conn: Conn, user_id: uuid.UUID, *, role: str | None, disabled: bool | None) -> Account:
    row = conn.execute(
        "UPDATE lms.users SET role = coalesce(%(role)s, role), disabled_at = CASE "
        "WHEN %(disabled)s::boolean IS NULL THEN disabled_at "
        "WHEN %(disabled)s THEN coalesce(disabled_at, now()) ELSE NULL END "
        f"WHERE id = %(id)s RETURNING {_ACCOUNT}",
        {"role": role, "disabled": disabled, "id": user_id}).fetchone()
    assert row is not None
    return Account(**row)


def search_accounts(conn: Conn, text: str | None, role: str | None, after: tuple[datetime, uuid.UUID] | None,
                    limit: int) -> list[Account]:
    """Newest first; `text` matches a part of the email or the name, case-insensitively."""
    pattern = None if not text else "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        f"SELECT {_ACCOUNT} FROM lms.users "
        "WHERE (%(p)s::text IS NULL OR email ILIKE %(p)s OR name ILIKE %(p)s) "
        "AND (%(role)s::text IS NULL OR role = %(role)s) "
        "AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s)) "
        "ORDER BY created_at DESC, id DESC LIMIT %(n)s",
        {"p": pattern, "role": role, "at": after[0] if after else None, "id": after[1] if after else None,
         "n": limit}).fetchall()
    return [Account(**r) for r in rows]


# --- sessions ----------------------------------------------------------------------------------------

def open_session(conn: Conn, user_id: uuid.UUID, expires_at: datetime, token_hash: bytes,
                 client_ip: str | None, user_agent: str | None) -> uuid.UUID:
    sid = uuid.uuid4()
    conn.execute("INSERT INTO lms.sessions (id, user_id, expires_at, client_ip, user_agent) "
                 "VALUES (%s, %s, %s, %s, %s)",
                 (sid, user_id, expires_at, client_ip, (user_agent or "")[:300] or None))
    add_refresh_token(conn, sid, token_hash)
    return sid


def add_refresh_token(conn: Conn, session_id: uuid.UUID, token_hash: bytes) -> None:
    conn.execute("INSERT INTO lms.refresh_tokens (token_hash, session_id) VALUES (%s, %s)", (token_hash, session_id))


def refresh_facts(conn: Conn, token_hash: bytes) -> RefreshFacts | None:
    """The token's row and its session, locked (two refreshes with one token: the second waits,
    then sees it used)."""
    row = conn.execute(
        "SELECT t.session_id, s.user_id, u.role, t.used_at IS NOT NULL AS used, t.issued_at, "
        "s.ended_at IS NOT NULL AS session_ended, s.expires_at AS session_expires_at, "
        "u.disabled_at IS NOT NULL AS account_disabled "
        "FROM lms.refresh_tokens t JOIN lms.sessions s ON s.id = t.session_id JOIN lms.users u ON u.id = s.user_id "
        "WHERE t.token_hash = %s FOR UPDATE OF t, s", (token_hash,)).fetchone()
    return RefreshFacts(**row) if row else None


def rotate(conn: Conn, used_hash: bytes, session_id: uuid.UUID, next_hash: bytes) -> None:
    conn.execute("UPDATE lms.refresh_tokens SET used_at = now() WHERE token_hash = %s", (used_hash,))
    conn.execute("UPDATE lms.sessions SET refreshed_at = now() WHERE id = %s", (session_id,))
    add_refresh_token(conn, session_id, next_hash)


def end_session(conn: Conn, session_id: uuid.UUID, user_id: uuid.UUID, reason: EndReason) -> bool:
    row = conn.execute("UPDATE lms.sessions SET ended_at = now(), end_reason = %s "
                       "WHERE id = %s AND user_id = %s AND ended_at IS NULL RETURNING id",
                       (reason, session_id, user_id)).fetchone()
    return row is not None


def end_sessions(conn: Conn, user_id: uuid.UUID, reason: EndReason) -> int:
    """End every live session of the user; how many there were."""
    return conn.execute("UPDATE lms.sessions SET ended_at = now(), end_reason = %s "
                        "WHERE user_id = %s AND ended_at IS NULL", (reason, user_id)).rowcount


# --- failed sign-ins ---------------------------------------------------------------------------------

def failures(conn: Conn, email: str, client_ip: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """(the email's, the address's) failure times since `since`."""
    by_email = [r["at"] for r in conn.execute(
        "SELECT at FROM lms.sign_in_failures WHERE email = %s AND at > %s", (email, since)).fetchall()]
    by_ip = [r["at"] for r in conn.execute(
        "SELECT at FROM lms.sign_in_failures WHERE client_ip = %s AND at > %s", (client_ip, since)).fetchall()]
    return by_email, by_ip


def record_failure(conn: Conn, email: str, client_ip: str) -> None:
    conn.execute("INSERT INTO lms.sign_in_failures (email, client_ip) VALUES (%s, %s)", (email, client_ip))


def clear_failures(conn: Conn, email: str, older_than: datetime) -> None:
    """The email's failures (a sign-in succeeded), and everyone's that left the window."""
    conn.execute("DELETE FROM lms.sign_in_failures WHERE email = %s OR at < %s", (email, older_than))


# --- the audit log -----------------------------------------------------------------------------------

def audit(conn: Conn, action: str, *, actor_id: uuid.UUID | None = None, subject_id: uuid.UUID | None = None,
          client_ip: str | None = None, details: dict[str, Any] | None = None) -> None:
    conn.execute("INSERT INTO lms.audit_log (id, action, actor_id, subject_id, client_ip, details) "
                 "VALUES (%s, %s, %s, %s, %s, %s)",
                 (uuid.uuid4(), action, actor_id, subject_id, client_ip, Jsonb(details or {})))


def audit_page(conn: Conn, action: str | None, subject_id: uuid.UUID | None,
               after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT id, at, action, actor_id, subject_id, client_ip, details FROM lms.audit_log "
        "WHERE (%(action)s::text IS NULL OR action = %(action)s) "
        "AND (%(subject)s::uuid IS NULL OR subject_id = %(subject)s) "
        "AND (%(at)s::timestamptz IS NULL OR (at, id) < (%(at)s, %(id)s)) "
        "ORDER BY at DESC, id DESC LIMIT %(n)s",
        {"action": action, "subject": subject_id, "at": after[0] if after else None,
         "id": after[1] if after else None, "n": limit}).fetchall()
    return [AuditEntry(**r) for r in rows]


# --- emailed links -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LinkRow:
    id: uuid.UUID
    user_id: uuid.UUID | None
    expires_at: datetime
    used: bool
    account_disabled: bool


def links_sent_since(conn: Conn, email: str, purpose: str, since: datetime) -> int:
    row = conn.execute("SELECT count(*) AS n FROM lms.account_tokens WHERE email = %s AND purpose = %s "
                       "AND created_at > %s", (email, purpose, since)).fetchone()
    return int(row["n"]) if row else 0


def insert_link(conn: Conn, purpose: str, email: str, user_id: uuid.UUID | None, expires_at: datetime) -> uuid.UUID:
    link_id = uuid.uuid4()
    conn.execute("INSERT INTO lms.account_tokens (id, purpose, email, user_id, expires_at) "
                 "VALUES (%s, %s, %s, %s, %s)", (link_id, purpose, email, user_id, expires_at))
    return link_id


def link(conn: Conn, link_id: uuid.UUID, purpose: str) -> LinkRow | None:
    """The link's row, locked (two uses of one link: the second waits, then sees it used)."""
    row = conn.execute(
        "SELECT t.id, t.user_id, t.expires_at, t.used_at IS NOT NULL AS used, "
        "coalesce(u.disabled_at IS NOT NULL, true) AS account_disabled "
        "FROM lms.account_tokens t LEFT JOIN lms.users u ON u.id = t.user_id "
        "WHERE t.id = %s AND t.purpose = %s FOR UPDATE OF t", (link_id, purpose)).fetchone()
    return LinkRow(**row) if row else None


def use_link(conn: Conn, link_id: uuid.UUID) -> None:
    conn.execute("UPDATE lms.account_tokens SET used_at = now() WHERE id = %s", (link_id,))


def set_email_verified(conn: Conn, user_id: uuid.UUID) -> None:
    conn.execute("UPDATE lms.users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = %s",
                 (user_id,))


# --- phone numbers and their codes ---------------------------------------------------------------

def codes_sent_since(conn: Conn, user_id: uuid.UUID, phone: str, since: datetime) -> tuple[list[datetime],
                                                                                           list[datetime]]:
    """When codes were sent since `since`: (to this account, to this number by any account)."""
    by_user = [r["created_at"] for r in conn.execute(
        "SELECT created_at FROM lms.phone_codes WHERE user_id = %s AND created_at > %s", (user_id, since)).fetchall()]
    by_phone = [r["created_at"] for r in conn.execute(
        "SELECT created_at FROM lms.phone_codes WHERE phone = %s AND created_at > %s", (phone, since)).fetchall()]
    return by_user, by_phone


def set_phone(conn: Conn, user_id: uuid.UUID, phone: str | None) -> None:
    """Store the number unverified (None removes it); every open code of the account closes."""
    conn.execute("UPDATE lms.users SET phone = %s, phone_verified_at = NULL WHERE id = %s", (phone, user_id))
    conn.execute("UPDATE lms.phone_codes SET closed_at = now() WHERE user_id = %s AND used_at IS NULL "
                 "AND closed_at IS NULL", (user_id,))


def insert_phone_code(conn: Conn, user_id: uuid.UUID, phone: str, expires_at: datetime) -> uuid.UUID:
    code_id = uuid.uuid4()
    conn.execute("INSERT INTO lms.phone_codes (id, user_id, phone, expires_at) VALUES (%s, %s, %s, %s)",
                 (code_id, user_id, phone, expires_at))
    return code_id


def open_phone_code(conn: Conn, user_id: uuid.UUID) -> PhoneCodeFacts | None:
    """The account's newest code not yet used or closed, locked (two attempts at once: the second
    waits and sees the first's count)."""
    row = conn.execute(
        "SELECT id, phone, expires_at, attempts FROM lms.phone_codes WHERE user_id = %s AND used_at IS NULL "
        "AND closed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE", (user_id,)).fetchone()
    return PhoneCodeFacts(**row) if row else None


def count_wrong_code(conn: Conn, code_id: uuid.UUID) -> int:
    row = conn.execute("UPDATE lms.phone_codes SET attempts = attempts + 1 WHERE id = %s RETURNING attempts",
                       (code_id,)).fetchone()
    return int(row["attempts"]) if row else 0


def verify_phone(conn: Conn, user_id: uuid.UUID, code_id: uuid.UUID) -> None:
    conn.execute("UPDATE lms.phone_codes SET used_at = now() WHERE id = %s", (code_id,))
    conn.execute("UPDATE lms.users SET phone_verified_at = now() WHERE id = %s", (user_id,))


def code_expiry(conn: Conn, user_id: uuid.UUID) -> datetime | None:
    """When the account's open code expires (None: no code is waiting)."""
    row = conn.execute("SELECT expires_at FROM lms.phone_codes WHERE user_id = %s AND used_at IS NULL "
                       "AND closed_at IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 1",
                       (user_id,)).fetchone()
    return row["expires_at"] if row else None


# --- the learner's data (GET /me/export) ---------------------------------------------------------

def read_only_snapshot(conn: Conn) -> None:
    """The rest of the caller's transaction reads one consistent snapshot and writes nothing (first
    statement of the transaction)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def lms_data_of(conn: Conn, user_id: uuid.UUID) -> dict[str, Any]:
    """What the LMS holds about a user: sessions, enrolments with progress, certificates, courses
    taught, emailed links (never their tokens) and the audit entries about the account."""
    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(sql, (user_id,)).fetchall()]

    enrollments = rows(
        "SELECT e.id, e.course_id, c.title AS course_title, e.course_version, e.status, e.enrolled_at, "
        "e.completed_at, e.cancelled_at FROM lms.enrollments e JOIN lms.courses c ON c.id = e.course_id "
        "WHERE e.user_id = %s ORDER BY e.enrolled_at, e.id")
    for e in enrollments:
        e["progress"] = [dict(r) for r in conn.execute(
            "SELECT lesson_id, required, status, percent, updated_at, completed_at FROM lms.lesson_progress "
            "WHERE enrollment_id = %s ORDER BY lesson_id", (e["id"],)).fetchall()]
    return {
        "sessions": rows("SELECT created_at, refreshed_at, expires_at, ended_at, end_reason, client_ip, user_agent "
                         "FROM lms.sessions WHERE user_id = %s ORDER BY created_at, id"),
        "enrollments": enrollments,
        "certificates": rows("SELECT code, course_id, snapshot, issued_at, revoked_at, revoked_reason "
                             "FROM lms.certificates WHERE user_id = %s ORDER BY issued_at, id"),
        "courses_taught": rows("SELECT id, title, status, published_version, created_at FROM lms.courses "
                               "WHERE instructor_id = %s ORDER BY created_at, id"),
        "emailed_links": rows("SELECT purpose, created_at, expires_at, used_at FROM lms.account_tokens "
                              "WHERE user_id = %s ORDER BY created_at, id"),
        "phone_codes": rows("SELECT phone, created_at, expires_at, attempts, used_at, closed_at FROM lms.phone_codes "
                            "WHERE user_id = %s ORDER BY created_at, id"),
        "security_log": rows("SELECT at, action, actor_id, client_ip, details FROM lms.audit_log "
                             "WHERE subject_id = %s ORDER BY at, id"),
    }


# --- deleting an account (DELETE /me) -------------------------------------------------------------

def withdraw_certificates(conn: Conn, user_id: uuid.UUID) -> list[str]:
    """The holder withdraws every certificate: the name leaves the stored snapshot (the code keeps
    answering "withdrawn by the holder"); the PDFs' S3 keys, for the caller to delete."""
    rows = conn.execute(
        "UPDATE lms.certificates SET withdrawn_at = coalesce(withdrawn_at, now()), "
        "snapshot = jsonb_set(snapshot, '{learner_name}', '\"\"') WHERE user_id = %s RETURNING s3_key",
        (user_id,)).fetchall()
    return [r["s3_key"] for r in rows]


def erase_account(conn: Conn, user_id: uuid.UUID, email: str) -> None:
    """Anonymise the user row and delete what only identifies the person: sessions (addresses,
    browsers), refresh tokens, failed sign-ins, emailed links, stored idempotent answers that carry
    the profile. Enrolments, progress and the audit log keep the (now anonymous) id."""
    conn.execute(
        "UPDATE lms.users SET email = %s, name = 'Deleted user', password_hash = '!deleted', "
        "email_verified_at = NULL, phone = NULL, phone_verified_at = NULL, "
        "disabled_at = coalesce(disabled_at, now()), deleted_at = now() WHERE id = %s",
        (f"deleted-{user_id.hex}@deleted.invalid", user_id))
    conn.execute("DELETE FROM lms.sessions WHERE user_id = %s", (user_id,))
    conn.execute("DELETE FROM lms.sign_in_failures WHERE email = %s", (email,))
    conn.execute("DELETE FROM lms.account_tokens WHERE user_id = %s OR email = %s", (user_id, email))
    conn.execute("DELETE FROM lms.phone_codes WHERE user_id = %s", (user_id,))
    conn.execute("DELETE FROM lms.idempotency_keys WHERE scope = %s OR response_body -> 'user' ->> 'id' = %s",
                 (f"user:{user_id}", str(user_id)))
