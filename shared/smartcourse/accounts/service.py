"""Account use cases: sign in (with limits), refresh (rotating, reuse ends the session), sign out,
sign out everywhere, change password, and the administrators' view of users and the audit log.

Functions take the `Database` where an outcome must be committed before the caller is refused (a
failed sign-in is counted, a reused refresh token ends its session, then 401/429), else a
connection inside the route's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcourse import auth, cursor
from smartcourse.accounts import domain
from smartcourse.accounts import repository as repo
from smartcourse.accounts import schemas as s
from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.errors import FieldProblem, Forbidden, NotFound, RateLimited, RuleViolated, Unauthorized
from smartcourse.events import new_event
from smartcourse.lms import event_schemas
from smartcourse.observability import count, current_correlation_id, logger
from smartcourse.outbox import write_event
from smartcourse.readonly import ai_conversations, analytics_learner, notify_inbox

Conn = repo.Conn


@dataclass(frozen=True)
class AccountsConfig:
    jwt_secret: str
    access_ttl_s: int = 900
    #: a session ends this long after sign-in, however often it is refreshed
    session_ttl: timedelta = timedelta(days=30)
    #: a refresh token not used for this long is refused (the user signs in again)
    refresh_idle: timedelta = timedelta(days=14)
    limits: domain.SignInLimits = field(default_factory=domain.SignInLimits)


@dataclass(frozen=True)
class Client:
    """Where a request comes from (API Gateway's `identity`), recorded on sessions and the audit log."""

    ip: str
    user_agent: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _pair(cfg: AccountsConfig, user_id: uuid.UUID, role: str, session_id: uuid.UUID, refresh_token: str,
          session_expires_at: datetime) -> s.TokenPair:
    access = auth.issue_token(user_id, role, cfg.jwt_secret, cfg.access_ttl_s, session_id=session_id)
    return s.TokenPair(access_token=access, expires_in=cfg.access_ttl_s, refresh_token=refresh_token,
                       session_expires_at=session_expires_at)


def _open(conn: Conn, cfg: AccountsConfig, account: repo.Account, client: Client) -> s.TokenPair:
    refresh = domain.new_refresh_token()
    expires = _now() + cfg.session_ttl
    sid = repo.open_session(conn, account.id, expires, domain.token_hash(refresh), client.ip, client.user_agent)
    return _pair(cfg, account.id, account.role, sid, refresh, expires)


def _limit(conn: Conn, cfg: AccountsConfig, email: str, client: Client) -> None:
    """429 with Retry-After while the email or the address must wait (nothing is counted then)."""
    now = _now()
    by_email, by_ip = repo.failures(conn, email, client.ip, now - cfg.limits.window)
    wait = max(cfg.limits.email_wait(by_email, now), cfg.limits.address_wait(by_ip, now))
    if wait > timedelta(0):
        retry = domain.retry_after_s(wait)
        count("SignInLimited")
        raise RateLimited(f"too many failed sign-ins; try again in {retry} s", extra={"retry_after_s": retry})


def _count_failure(conn: Conn, cfg: AccountsConfig, email: str, client: Client, account: repo.Account | None) -> None:
    repo.record_failure(conn, email, client.ip)
    now = _now()
    by_email, by_ip = repo.failures(conn, email, client.ip, now - cfg.limits.window)
    count("SignInFailed")
    # Once per crossing: the failure that starts the waits is what the audit log shows.
    for scope, n, limit in (("email", len(by_email), cfg.limits.free_failures),
                            ("address", len(by_ip), cfg.limits.address_failures)):
        if n == limit:
            repo.audit(conn, "sign_in_limited", subject_id=account.id if account else None, client_ip=client.ip,
                       details={"scope": scope, "failures": n, "window_s": int(cfg.limits.window.total_seconds())})
            logger.warning("sign-in limit reached", extra={"scope": scope, "failures": n})


# --- sign in, refresh, sign out ------------------------------------------------------------------

def sign_in(db: Database, cfg: AccountsConfig, email: str, password: str, client: Client) -> s.TokenPair:
    """The same 401 for an unknown email, a wrong password and a disabled account (a disabled
    account's password is still checked first, so the answer says nothing to a guesser)."""
    with db.transaction() as conn:
        _limit(conn, cfg, email, client)
        account = repo.account_by_email(conn, email)
    stored = account.password_hash if account is not None and account.password_hash else auth.dummy_hash()
    ok = auth.verify_password(stored, password)  # outside the transaction: ~0.1 s of Argon2
    with db.transaction() as conn:
        if account is None or not ok or account.disabled_at is not None:
            _count_failure(conn, cfg, email, client, account)
        else:
            repo.clear_failures(conn, email, _now() - cfg.limits.window)
            return _open(conn, cfg, account, client)
    raise Unauthorized("invalid email or password")


def refresh(db: Database, cfg: AccountsConfig, token: str | None, client: Client) -> s.TokenPair:
    if not token:
        raise Unauthorized("a refresh token is required (body refresh_token or the sc_refresh cookie)")
    presented = domain.token_hash(token)
    with db.transaction() as conn:
        facts = repo.refresh_facts(conn, presented)
        outcome = domain.judge_refresh(facts, _now(), cfg.refresh_idle)
        if outcome == "rotate" and facts is not None:
            nxt = domain.new_refresh_token()
            repo.rotate(conn, presented, facts.session_id, domain.token_hash(nxt))
            return _pair(cfg, facts.user_id, facts.role, facts.session_id, nxt, facts.session_expires_at)
        if outcome == "reuse" and facts is not None:
            repo.end_session(conn, facts.session_id, facts.user_id, "refresh_reuse")
            repo.audit(conn, "refresh_reuse", subject_id=facts.user_id, client_ip=client.ip,
                       details={"session_id": str(facts.session_id)})
            count("RefreshReuse")
            logger.warning("refresh token reused: session ended", extra={"session_id": str(facts.session_id)})
    raise Unauthorized("the refresh token is not valid; sign in again")


def sign_out(conn: Conn, principal: Principal) -> None:
    if principal.session_id is not None:
        repo.end_session(conn, principal.session_id, principal.user_id, "logout")


def sign_out_everywhere(conn: Conn, principal: Principal, client: Client) -> None:
    ended = repo.end_sessions(conn, principal.user_id, "logout_all")
    repo.audit(conn, "logout_all", actor_id=principal.user_id, subject_id=principal.user_id, client_ip=client.ip,
               details={"sessions": ended})


def _entered_password(db: Database, cfg: AccountsConfig, principal: Principal, password: str,
                      client: Client) -> tuple[repo.Account, bool]:
    """The caller's account and whether `password` is its password (checked outside any
    transaction: ~0.1 s of Argon2), under the sign-in limits of its email (429 while waiting)."""
    with db.transaction() as conn:
        account = repo.account_by_id(conn, principal.user_id)
        if account is None:
            raise Unauthorized("the account no longer exists")
        _limit(conn, cfg, account.email, client)
    return account, auth.verify_password(account.password_hash, password)


def change_password(db: Database, cfg: AccountsConfig, principal: Principal, req: s.ChangePasswordRequest,
                    client: Client) -> s.TokenPair:
    """Every session ends (this one too); the answer is a new session's tokens. A wrong current
    password counts as a failed sign-in of the account (the same limits)."""
    account, ok = _entered_password(db, cfg, principal, req.current_password, client)
    new_hash = auth.hash_password(req.new_password) if ok else ""
    with db.transaction() as conn:
        if ok:
            repo.set_password(conn, account.id, new_hash)
            ended = repo.end_sessions(conn, account.id, "password_changed")
            repo.audit(conn, "password_changed", actor_id=account.id, subject_id=account.id, client_ip=client.ip,
                       details={"sessions_ended": ended})
            return _open(conn, cfg, account, client)
        _count_failure(conn, cfg, account.email, client, account)
    raise RuleViolated("the current password is not right",
                       details=[FieldProblem("current_password", "does not match")])


# --- administration ------------------------------------------------------------------------------

def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only administrators manage accounts")


def _admin_user(a: repo.Account) -> s.AdminUser:
    return s.AdminUser(id=a.id, email=a.email, name=a.name, role=a.role,  # type: ignore[arg-type]
                       created_at=a.created_at, disabled=a.disabled_at is not None, disabled_at=a.disabled_at)


def list_users(conn: Conn, admin: Principal, q: s.AdminUserQuery) -> s.AdminUserPage:
    _require_admin(admin)
    rows = repo.search_accounts(conn, q.q, q.role, cursor.decode_cursor(q.cursor), q.limit + 1)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    nxt = cursor.encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return s.AdminUserPage(items=[_admin_user(a) for a in rows], next_cursor=nxt)


def update_user(conn: Conn, admin: Principal, user_id: uuid.UUID, req: s.AdminUserUpdate,
                client: Client) -> s.AdminUser:
    """A role change or disabling ends the user's sessions at once (their next request is a 401; a
    new sign-in carries the new role); each change is in the audit log."""
    _require_admin(admin)
    domain.check_admin_change(admin.user_id, user_id, role=req.role, disabled=req.disabled)
    before = repo.account_by_id(conn, user_id, lock=True)
    if before is None:
        raise NotFound("user not found")
    after = repo.update_account(conn, user_id, role=req.role, disabled=req.disabled)
    changes: list[tuple[str, domain.EndReason | None, dict[str, Any]]] = []
    if after.role != before.role:
        changes.append(("role_changed", "role_changed", {"from": before.role, "to": after.role}))
    if (after.disabled_at is None) != (before.disabled_at is None):
        changes.append(("account_disabled", "account_disabled", {}) if after.disabled_at else
                       ("account_enabled", None, {}))
    for action, reason, details in changes:
        if reason is not None:
            details = {**details, "sessions_ended": repo.end_sessions(conn, user_id, reason)}
        repo.audit(conn, action, actor_id=admin.user_id, subject_id=user_id, client_ip=client.ip, details=details)
    return _admin_user(after)


def audit_log(conn: Conn, admin: Principal, q: s.AuditQuery) -> s.AuditPage:
    _require_admin(admin)
    rows = repo.audit_page(conn, q.action, q.user_id, cursor.decode_cursor(q.cursor), q.limit + 1)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    nxt = cursor.encode_cursor(rows[-1].at, rows[-1].id) if more and rows else None
    return s.AuditPage(items=[s.AuditEntry.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt)


# --- emailed links: password reset, email verification ---------------------------------------------

def issue_link(conn: Conn, purpose: domain.LinkPurpose, email: str, user_id: uuid.UUID | None) -> None:
    """Record a link for ``email`` and, when an account has it and the hourly limit allows, write
    the event NotificationsFunction emails it from. An unknown address is recorded the same way
    (same work, same answer) and gets no email."""
    now = _now()
    sent = repo.links_sent_since(conn, email, purpose, now - timedelta(hours=1))
    link = repo.insert_link(conn, purpose, email, user_id, now + domain.LINK_LIFETIME[purpose])
    if user_id is None or sent >= domain.LINKS_PER_HOUR:
        return
    data = {"link_id": str(link), "user_id": str(user_id),
            "expires_at": (now + domain.LINK_LIFETIME[purpose]).isoformat()}
    name = domain.link_event(purpose)
    event = new_event(name, user_id, data, correlation_id=current_correlation_id(), aggregate_type="user")
    event_schemas.validate(name, "user", data)
    write_event(conn, event)


def request_password_reset(conn: Conn, email: str) -> None:
    """The same answer, whether or not an account has ``email`` (a disabled one gets no email)."""
    account = repo.account_by_email(conn, email)
    usable = account is not None and account.disabled_at is None
    issue_link(conn, "password_reset", email, account.id if usable and account else None)


def reset_password(db: Database, key: bytes, token: str, new_password: str, client: Client) -> None:
    """Set the password a valid, unused, unexpired reset link is for; the link is spent and every
    session of the account ends. InvalidLink otherwise (nothing changes)."""
    link_id = domain.link_id(key, "password_reset", token)
    new_hash = auth.hash_password(new_password)  # before the row lock: Argon2 takes ~0.1 s
    with db.transaction() as conn:
        row = repo.link(conn, link_id, "password_reset")
        if row is None or row.user_id is None:
            raise domain.InvalidLink("the link is not valid")
        domain.judge_link(row.used, row.expires_at, row.account_disabled, _now())
        repo.use_link(conn, link_id)
        repo.set_password(conn, row.user_id, new_hash)
        repo.set_email_verified(conn, row.user_id)  # the link reached the address
        ended = repo.end_sessions(conn, row.user_id, "password_reset")
        repo.audit(conn, "password_reset", subject_id=row.user_id, client_ip=client.ip,
                   details={"sessions_ended": ended})


def check_link(conn: Conn, key: bytes, purpose: domain.LinkPurpose, token: str) -> None:
    """InvalidLink unless the link could be used now (for the page that shows its form)."""
    row = repo.link(conn, domain.link_id(key, purpose, token), purpose)
    if row is None or row.user_id is None:
        raise domain.InvalidLink("the link is not valid")
    domain.judge_link(row.used, row.expires_at, row.account_disabled, _now())


def request_email_verification(conn: Conn, principal: Principal) -> None:
    account = repo.account_by_id(conn, principal.user_id)
    if account is None:
        raise Unauthorized("the account no longer exists")
    issue_link(conn, "email_verification", account.email, account.id)


def verify_email(conn: Conn, key: bytes, token: str) -> None:
    link_id = domain.link_id(key, "email_verification", token)
    row = repo.link(conn, link_id, "email_verification")
    if row is None or row.user_id is None:
        raise domain.InvalidLink("the link is not valid")
    domain.judge_link(row.used, row.expires_at, row.account_disabled, _now())
    repo.use_link(conn, link_id)
    repo.set_email_verified(conn, row.user_id)


# --- phone numbers: verified by a texted code ---------------------------------------------------------

def _phone_state(conn: Conn, account: repo.Account) -> s.PhoneState:
    return s.PhoneState(phone=account.phone, verified=account.phone_verified_at is not None,
                        verified_at=account.phone_verified_at,
                        code_expires_at=repo.code_expiry(conn, account.id) if account.phone else None)


def _own_account(conn: Conn, principal: Principal) -> repo.Account:
    account = repo.account_by_id(conn, principal.user_id, lock=True)
    if account is None:
        raise Unauthorized("the account no longer exists")
    return account


def set_phone(conn: Conn, principal: Principal, phone: str) -> s.PhoneState:
    """Store ``phone`` unverified and text it a code (the event carries the code's id only). The
    number already verified is left as it is (nothing is sent). At most CODES_PER_HOUR codes per
    account and per number an hour: 429 with Retry-After beyond (nothing changes)."""
    account = _own_account(conn, principal)
    if account.phone == phone and account.phone_verified_at is not None:
        return _phone_state(conn, account)
    now = _now()
    by_user, by_phone = repo.codes_sent_since(conn, account.id, phone, now - domain.CODE_WINDOW)
    wait = domain.code_send_wait(by_user, by_phone, now)
    if wait > timedelta(0):
        retry = domain.retry_after_s(wait)
        count("PhoneCodesLimited")
        raise RateLimited(f"too many codes were sent; try again in {retry} s", extra={"retry_after_s": retry})
    repo.set_phone(conn, account.id, phone)
    expires = now + domain.CODE_LIFETIME
    code_id = repo.insert_phone_code(conn, account.id, phone, expires)
    data = {"code_id": str(code_id), "user_id": str(account.id), "expires_at": expires.isoformat()}
    event_schemas.validate("user.phone_verification_requested", "user", data)
    write_event(conn, new_event("user.phone_verification_requested", account.id, data,
                                correlation_id=current_correlation_id(), aggregate_type="user"))
    count("PhoneCodesRequested")
    return s.PhoneState(phone=phone, verified=False, verified_at=None, code_expires_at=expires)


def verify_phone(db: Database, key: bytes, principal: Principal, code: str) -> s.PhoneState:
    """The number is verified when ``code`` is the one texted to it, within CODE_LIFETIME and
    CODE_ATTEMPTS tries. A wrong code is counted (committed) before the 422."""
    with db.transaction() as conn:
        account = _own_account(conn, principal)
        facts = repo.open_phone_code(conn, account.id)
        outcome = domain.judge_code(key, facts, account.phone, code, _now())
        assert facts is not None
        if outcome == "verified":
            repo.verify_phone(conn, account.id, facts.id)
            verified = repo.account_by_id(conn, account.id)
            assert verified is not None
            count("PhonesVerified")
            return _phone_state(conn, verified)
        attempts = repo.count_wrong_code(conn, facts.id)
    raise domain.wrong_code(attempts)


def remove_phone(conn: Conn, principal: Principal) -> None:
    """No number any more: nothing is texted (SMS preferences stay, unused, until a number is
    verified again); a code on its way no longer works."""
    account = _own_account(conn, principal)
    repo.set_phone(conn, account.id, None)


# --- the learner's data --------------------------------------------------------------------------

def export(conn: Conn, principal: Principal) -> s.ExportDocument:
    """Everything held about the caller, from the LMS and, read-only, the AI, notifications and
    analytics sides (`readonly.ai_conversations`, `readonly.notify_inbox`,
    `readonly.analytics_learner`), in one snapshot."""
    repo.read_only_snapshot(conn)
    account = repo.account_by_id(conn, principal.user_id)
    if account is None:
        raise Unauthorized("the account no longer exists")
    return s.ExportDocument(
        exported_at=_now(),
        account={"id": account.id, "email": account.email, "name": account.name, "role": account.role,
                 "created_at": account.created_at, "email_verified_at": account.email_verified_at,
                 "phone": account.phone, "phone_verified_at": account.phone_verified_at},
        **repo.lms_data_of(conn, account.id),
        assistant_conversations=ai_conversations.of_user(conn, account.id),
        notifications=notify_inbox.of_user(conn, account.id),
        analytics=analytics_learner.of_user(conn, account.id),
    )


def delete_account(db: Database, cfg: AccountsConfig, principal: Principal, req: s.DeleteAccountRequest,
                   client: Client) -> list[str]:
    """Erase the caller's personal data (the password entered again): the LMS part here, in one
    transaction with the `user.deleted` event that tells the AI and notifications sides to erase
    theirs. A wrong password is 422 and counts as a failed sign-in. The S3 keys of withdrawn
    certificates' PDFs, for the caller to delete once this has committed."""
    account, ok = _entered_password(db, cfg, principal, req.password, client)
    with db.transaction() as conn:
        if ok:
            keys = repo.withdraw_certificates(conn, account.id) if req.certificates == "withdraw" else []
            repo.erase_account(conn, account.id, account.email)
            repo.audit(conn, "account_deleted", actor_id=account.id, subject_id=account.id, client_ip=client.ip,
                       details={"certificates": req.certificates})
            data = {"user_id": str(account.id), "deleted_at": _now().isoformat(), "certificates": req.certificates}
            event_schemas.validate("user.deleted", "user", data)
            write_event(conn, new_event("user.deleted", account.id, data, correlation_id=current_correlation_id(),
                                        aggregate_type="user"))
            count("AccountsDeleted")
            return keys
        _count_failure(conn, cfg, account.email, client, account)
    raise RuleViolated("the password is not right", details=[FieldProblem("password", "does not match")])
