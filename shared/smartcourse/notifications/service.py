"""Notifications use cases: events -> inbox rows (NotificationsFunction's consumer), the queued
emails, digests and text messages (its schedule), SES bounces and complaints -> suppressions (its SNS event), and
the caller's inbox and preferences (the API). The consumer's and the API's run in the caller's
transaction (the consumer's with its processed_events row); the schedule's and the SNS event's
take the database and open their own.

Who is told what (the catalogue is `domain.CATALOGUE`, docs/notifications.md):
- enrollment.created -> the learner (enrollment_confirmed); the instructor when the course's
  enrolments reach a milestone or its capacity (enrollment_milestone);
- course.published (version 2 and later) -> each learner with an active enrolment, if lessons
  were added or changed since the previous version (course_updated, merged per course per hour);
- certificate.issued -> the learner, with the verification link (certificate_issued);
- certificate.revoked -> the learner, with the reason (certificate_revoked).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg

from smartcourse.accounts.domain import LINK_PURPOSES, link_event, link_url, purpose_of
from smartcourse.auth import Principal
from smartcourse.cursor import decode_cursor, encode_cursor
from smartcourse.db import Database
from smartcourse.errors import NotFound
from smartcourse.events import EventEnvelope
from smartcourse.notifications import delivery, domain, feedback, tokens
from smartcourse.notifications import repository as repo
from smartcourse.notifications import schemas as s
from smartcourse.notifications.delivery import Mailer, Texter, email_cadences
from smartcourse.observability import count, logger
from smartcourse.readonly import ai_index, lms_people

Conn = psycopg.Connection[Any]


# --- events -> notifications (the consumer) -------------------------------------------------------

@dataclass(frozen=True)
class EmailLinks:
    """What an email (or a text) needs beyond the notification: the key that signs unsubscribe
    links and derives phone codes, the API's base URL, and the web app's URL (None when the
    deployment names no origin: a text then carries only public links)."""

    key: bytes
    public_base_url: str
    app_url: str | None = None

    def unsubscribe_url(self, user_id: uuid.UUID, type_: str, now: datetime) -> str:
        token = tokens.sign(self.key, tokens.Unsubscribe(user_id, type_, "email"), now)
        return f"{self.public_base_url.rstrip('/')}/unsubscribe/{token}"


def _deliveries(conn: Conn, notification_id: uuid.UUID, m: domain.Message, links: EmailLinks) -> None:
    """Queue what the notification's other channels send now, from one read of the user's settings
    and preferences: its email if the type is emailed immediately (daily and weekly wait for
    digests), its text if the type is texted and the user has a verified number. Each is due now,
    or when the user's quiet hours end (deferred, never dropped)."""
    st = _settings(conn, m.user_id)
    prefs = domain.effective(repo.stored_preferences(conn, m.user_id), st.timezone, st.quiet_hours)
    channels = prefs.types[m.type]
    now = datetime.now(UTC)
    due = domain.deliver_at(now, st.timezone, st.quiet_hours)
    email_pref = channels.get("email")
    if email_pref is not None and email_pref.cadence == "immediately":
        _email_for(conn, notification_id, m, links, now, due)
    sms_pref = channels.get("sms")
    if sms_pref is not None and sms_pref.cadence == "immediately":
        number = lms_people.verified_phone_of(conn, m.user_id)
        if number is not None:  # without one the preference stays; nothing is texted until one is verified
            repo.enqueue_sms(conn, notification_id, m, number, domain.render_sms(m, links.app_url), due)


def _email_for(conn: Conn, notification_id: uuid.UUID, m: domain.Message, links: EmailLinks, now: datetime,
               due: datetime) -> None:
    address = lms_people.email_of(conn, m.user_id)
    if address is None:
        return
    unsubscribe = links.unsubscribe_url(m.user_id, m.type, now)
    mail = domain.render_email(m, domain.CATALOGUE[m.type].label, unsubscribe)
    status = "suppressed" if repo.is_suppressed(conn, address) else "pending"
    repo.enqueue_email(conn, notification_id, m, address, mail.subject, mail.text, mail.html, unsubscribe, due,
                       status)


def _store(conn: Conn, envelope: EventEnvelope, messages: list[domain.Message], *, links: EmailLinks | None,
           merge: bool = False) -> int:
    added = 0
    for m in messages:
        nid = repo.insert(conn, m, envelope.id, merge=merge)
        if nid is not None:
            added += 1
            if links is not None:
                _deliveries(conn, nid, m, links)
    if added:
        count("NotificationsCreated", added)
    logger.info("notifications stored", extra={"event_type": envelope.type, "added": added,
                                               "recipients": len(messages)})
    return added


def _course(conn: Conn, course_id: uuid.UUID) -> lms_people.CourseFacts:
    course = lms_people.course(conn, course_id)
    if course is None:  # the LMS never deletes courses: an event naming none is not ours
        raise LookupError(f"course {course_id} does not exist")
    return course


def on_enrollment_created(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    d = envelope.data
    course_id, enrollment_id = uuid.UUID(d["course_id"]), uuid.UUID(d["enrollment_id"])
    course = _course(conn, course_id)
    messages = [domain.enrollment_confirmed(uuid.UUID(d["user_id"]), enrollment_id, course_id, course.title)]
    count_then = lms_people.enrollments_until(conn, course_id, datetime.fromisoformat(d["enrolled_at"]))
    reached = domain.milestone(count_then, course.capacity)
    if reached is not None:
        messages.append(domain.enrollment_milestone(course.instructor_id, course_id, course.title, reached,
                                                    course.capacity))
    _store(conn, envelope, messages, links=links)


def on_course_published(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    d = envelope.data
    course_id, version = uuid.UUID(d["course_id"]), int(d["version"])
    if version < 2:
        return  # a first version has no learners yet
    previous = lms_people.version_lessons(conn, course_id, version - 1) or []
    current = lms_people.version_lessons(conn, course_id, version) or []
    changed = domain.changed_lessons(previous, current)
    messages = [m for user in lms_people.learners_of_course(conn, course_id)
                if (m := domain.course_updated(user, course_id, str(d["title"]), version, changed,
                                               datetime.fromisoformat(d["published_at"]))) is not None]
    _store(conn, envelope, messages, links=links, merge=True)


def on_certificate_issued(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    d = envelope.data
    course = _course(conn, uuid.UUID(d["course_id"]))
    _store(conn, envelope, [domain.certificate_issued(uuid.UUID(d["user_id"]), uuid.UUID(d["certificate_id"]),
                                                      course.title, str(d["verify_url"]))], links=links)


def on_certificate_revoked(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    d = envelope.data
    course = _course(conn, uuid.UUID(d["course_id"]))
    _store(conn, envelope, [domain.certificate_revoked(uuid.UUID(d["user_id"]), uuid.UUID(d["certificate_id"]),
                                                       course.title, str(d["reason"]))], links=links)


def on_account_link_requested(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    """A password reset or email verification link: emailed now to the account's address, whatever
    the preferences and quiet hours (it is the account's own security mail), once per link. The
    link is signed here from the event's id (the event carries no secret)."""
    if links is None:
        return  # emails are off for this consumer (the in-app only wiring of older tests)
    purpose = purpose_of(envelope.name)
    d = envelope.data
    user_id, link_id = uuid.UUID(d["user_id"]), uuid.UUID(d["link_id"])
    address = lms_people.email_of(conn, user_id)
    if address is None:
        return  # the account is gone
    url = link_url(links.public_base_url, links.key, purpose, link_id)
    mail = domain.render_account_email(purpose, url, datetime.fromisoformat(d["expires_at"]))
    status = "suppressed" if repo.is_suppressed(conn, address) else "pending"
    repo.enqueue_account_email(conn, link_id, user_id, purpose, address, mail.subject, mail.text, mail.html, status)


def on_phone_verification_requested(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    """A phone verification code to text: queued now, whatever the preferences and quiet hours
    (the user is waiting for it), once per code. The event carries the code's id; the number is
    the code row's, and the code is derived when it is sent (it is stored nowhere)."""
    if links is None:
        return
    code = lms_people.phone_code(conn, uuid.UUID(envelope.data["code_id"]))
    if code is None or not code.usable:
        return  # replaced by a newer code, the number removed, or the account deleted
    repo.enqueue_code_sms(conn, uuid.UUID(envelope.data["code_id"]), code.user_id, code.phone, code.expires_at)


def on_user_deleted(conn: Conn, envelope: EventEnvelope, *, links: EmailLinks | None = None) -> None:
    """The account was deleted: its inbox, preferences, time zone, queued and sent emails (with
    their addresses and texts) and digests go (suppressed addresses stay: an address that bounced
    is never mailed again, whoever it belonged to)."""
    user_id = uuid.UUID(envelope.data["user_id"])
    erased = repo.erase_user(conn, user_id)
    logger.info("user's notifications erased", extra={"user_id": str(user_id), **erased})


def handlers(links: EmailLinks | None) -> dict[str, Callable[[Conn, EventEnvelope], None]]:
    """The consumer's handlers by event name; with ``links``, notifications are also emailed."""
    return {name: functools.partial(fn, links=links) for name, fn in (
        ("enrollment.created", on_enrollment_created), ("course.published", on_course_published),
        ("certificate.issued", on_certificate_issued), ("certificate.revoked", on_certificate_revoked),
        *((link_event(p), on_account_link_requested) for p in LINK_PURPOSES),
        ("user.phone_verification_requested", on_phone_verification_requested),
        ("user.deleted", on_user_deleted))}


# --- delivering queued emails and texts (the schedule): one sender, `delivery.deliver` ---------------

def deliver_due(database: Database, mailer: Mailer, *, batch: int = 50, max_attempts: int = 5,
                retry_after_s: float = 60.0, stale_after_s: float = 900.0,
                now: datetime | None = None) -> dict[str, int]:
    """Send the emails that are due, each at most once: claimed ('sending', committed) before the
    SES call, settled after it. A transient SES failure puts it back later (up to max_attempts);
    an address suppressed, or a preference turned off, since it was queued stops it. ``now``:
    the clock (tests pass a later one to reach emails deferred by quiet hours)."""
    return delivery.deliver(database, delivery.email_channel(mailer), batch=batch, max_attempts=max_attempts,
                            retry_after_s=retry_after_s, stale_after_s=stale_after_s, now=now or datetime.now(UTC))


def deliver_due_sms(database: Database, texter: Texter, key: bytes, *, batch: int = 50, max_attempts: int = 5,
                    retry_after_s: float = 60.0, stale_after_s: float = 900.0, codes_only: bool = False,
                    now: datetime | None = None) -> dict[str, int]:
    """Send the texts that are due, each at most once, as `deliver_due` sends emails: claimed
    ('sending', committed) before the SNS call, settled after it; a transient SNS failure puts it
    back later (up to max_attempts), any other fails it with SNS's error code. A verification
    code is derived here from its id (``key``) and is never stored or logged. ``codes_only``: just
    the verification codes (right after the consumer queued them: the user is waiting)."""
    channel = delivery.sms_channel(texter, key, codes_only=codes_only)
    return delivery.deliver(database, channel, batch=batch, max_attempts=max_attempts, retry_after_s=retry_after_s,
                            stale_after_s=stale_after_s, now=now or datetime.now(UTC))


# --- SES feedback (SNS): bounces and complaints -> notify.suppressions ------------------------------

def _masked(address: str) -> str:
    """For the log: enough to recognise an address, not to harvest it (the table has it whole)."""
    local, _, host = address.partition("@")
    return f"{local[:1]}***@{host}"


def record_email_feedback(database: Database, messages: Iterable[tuple[str | None, Any]]) -> dict[str, int]:
    """Suppress the addresses SES reports as hard-bounced or complained about (`feedback.parse`
    decides which), one transaction per SNS message. Idempotent: an address already suppressed
    keeps its first reason, so a redelivered or replayed message changes nothing. A message that
    is not SES feedback is logged, counted (EmailFeedbackMalformed) and skipped: retrying cannot
    fix it, and the other messages of the batch still count. A database error raises (the
    invocation is retried; the upserts make that harmless). ``messages``: (SNS message id, the
    message text)."""
    out = {"messages": 0, "suppressed": 0, "already_suppressed": 0, "not_suppressed": 0, "malformed": 0}
    for message_id, text in messages:
        out["messages"] += 1
        try:
            fb = feedback.parse(text)
        except feedback.MalformedFeedback as exc:
            out["malformed"] += 1
            logger.warning("email feedback not understood; skipped",
                           extra={"sns_message_id": message_id, "error": str(exc)[:500]})
            continue
        with database.transaction() as conn:
            added = [sup for sup in fb.suppress if repo.suppress(conn, sup.address, sup.reason)]
        for sup in added:
            logger.info("address suppressed", extra={"address": _masked(sup.address), "reason": sup.reason,
                                                     "detail": fb.detail, "sns_message_id": message_id})
        out["suppressed"] += len(added)
        out["already_suppressed"] += len(fb.suppress) - len(added)
        out["not_suppressed"] += len(fb.kept)
        if fb.kept:
            logger.info("email feedback: recipients not suppressed",
                        extra={"kind": fb.kind, "detail": fb.detail, "sns_message_id": message_id,
                               "recipients": [{"address": _masked(a), "why": why} for a, why in fb.kept]})
    count("EmailFeedbackSuppressed", out["suppressed"])
    count("EmailFeedbackMalformed", out["malformed"])
    return out


# --- digests (the schedule, at most every DIGEST_EVERY_S) -------------------------------------------

DIGEST_EVERY_S = 600.0


def build_digests(database: Database, links: EmailLinks, *, now: datetime | None = None,
                  every_s: float = DIGEST_EVERY_S) -> dict[str, int]:
    """Queue one digest email per user, cadence and window for the notifications of the types the
    user batches by email (daily: yesterday's, from 08:00 local; weekly: last week's, from Monday
    08:00 local). Runs at most once per ``every_s`` whoever calls it; each digest exists once per
    (user, cadence, window) however often it runs. A window missed for longer than the next one
    (the schedule stopped for over a day) is not sent late: its notifications stay in the inbox."""
    now = now or datetime.now(UTC)
    out = {"digests": 0, "users": 0}
    with database.transaction() as conn:
        if not repo.take_job(conn, "digests", every_s):
            return out
        users = repo.recent_recipients(conn, now - timedelta(days=8))
    for user_id in users:
        with database.transaction() as conn:
            st = _settings(conn, user_id)
            quiet = st.quiet_hours
            cadences = email_cadences(conn, user_id)
            address = lms_people.email_of(conn, user_id)
            for cadence in domain.DIGEST_CADENCES:
                types = sorted(t for t, c in cadences.items() if c == cadence)
                if not types or address is None:
                    continue
                start, end = domain.digest_window(now, st.timezone, cadence)
                items = repo.notifications_between(conn, user_id, types, start, end)
                digest_id = repo.insert_digest(conn, user_id, cadence, start, end, len(items)) if items else None
                if digest_id is None:
                    continue
                kind = domain.digest_type(cadence)
                unsubscribe = links.unsubscribe_url(user_id, kind, now)
                mail = domain.render_digest(cadence, items, unsubscribe)
                status = "suppressed" if repo.is_suppressed(conn, address) else "pending"
                repo.enqueue_digest_email(conn, digest_id, user_id, kind, address, mail.subject, mail.text, mail.html,
                                          unsubscribe, domain.deliver_at(now, st.timezone, quiet), status)
                out["digests"] += 1
        out["users"] += 1
    if out["digests"]:
        count("DigestsQueued", out["digests"])
        logger.info("digests queued", extra=out)
    return out


# --- failed uploads (the schedule): the AI side's failed documents -> their instructor -------------

#: How far back each scan starts before the watermark: a document committed late with an earlier
#: updated_at is still seen (the dedupe key makes the overlap harmless).
FAILED_SCAN_OVERLAP = timedelta(minutes=10)


def notify_failed_uploads(database: Database, links: EmailLinks | None, *, batch: int = 200,
                          max_pages: int = 20) -> int:
    """Tell each course's instructor about the uploads the AI side marked failed since the last
    scan, with the reason (once per document, by its dedupe key). Pages through them by
    (updated_at, id), so a burst larger than a page moves the watermark on."""
    added = 0
    with database.transaction() as conn:
        since = repo.watermark(conn, "failed_documents")
        position, after = since - FAILED_SCAN_OVERLAP, None
        failed: list[ai_index.FailedDocument] = []
        for _ in range(max_pages):
            page = ai_index.failed_documents_since(conn, position, batch, after)
            failed.extend(page)
            if len(page) < batch:
                break
            position, after = page[-1].updated_at, page[-1].id
        for doc in failed:
            course = lms_people.course(conn, doc.course_id)
            if course is None:
                continue
            filename = lms_people.asset_filename(conn, doc.asset_id) or "An upload"
            reason = doc.error or doc.error_code or "the file could not be read"
            message = domain.asset_failed(course.instructor_id, course.id, course.title, doc.id, filename, reason)
            nid = repo.insert(conn, message, doc.id)
            if nid is not None:
                added += 1
                if links is not None:
                    _deliveries(conn, nid, message, links)
        if failed:
            repo.move_watermark(conn, "failed_documents", failed[-1].updated_at)
    if added:
        count("NotificationsCreated", added)
        logger.info("failed uploads notified", extra={"added": added, "scanned": len(failed)})
    return added


# --- unsubscribe (the API, no sign-in) ----------------------------------------------------------

def unsubscribe(conn: Conn, key: bytes, token: str) -> tokens.Unsubscribe:
    """Turn the token's (type, channel) off for its user. The same link works again (idempotent)."""
    try:
        what = tokens.verify(key, token, datetime.now(UTC))
    except tokens.InvalidToken as exc:
        raise NotFound(str(exc)) from None
    cadence = domain.digest_cadence_of(what.type)
    if cadence and what.channel == "email":  # a digest's link: every type batched at that cadence
        batched = [t for t, c in email_cadences(conn, what.user_id).items() if c == cadence]
        repo.save_preferences(conn, what.user_id, [(t, "email", "off") for t in batched])
        return what
    kind = domain.CATALOGUE.get(what.type)
    if kind is None or what.channel not in kind.defaults or what.channel in kind.locked:
        raise NotFound("the link is not valid")
    repo.save_preferences(conn, what.user_id, [(what.type, what.channel, "off")])  # type: ignore[list-item]
    return what


# --- the caller's inbox and preferences (the API) -------------------------------------------------

def _item(n: repo.Notification) -> s.Notification:
    return s.Notification.model_validate(n, from_attributes=True)


def inbox(conn: Conn, principal: Principal, query: s.InboxQuery) -> s.NotificationPage:
    rows = repo.page(conn, principal.user_id, unread=query.unread, after=decode_cursor(query.cursor),
                     limit=query.limit + 1)
    items = rows[: query.limit]
    more = len(rows) > query.limit
    return s.NotificationPage(items=[_item(n) for n in items], unread_count=repo.unread_count(conn, principal.user_id),
                              next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None)


def mark_read(conn: Conn, principal: Principal, notification_id: uuid.UUID) -> s.Notification:
    found = repo.mark_read(conn, principal.user_id, notification_id)
    if found is None:
        raise NotFound("notification not found")
    return _item(found)


def mark_all_read(conn: Conn, principal: Principal) -> s.ReadAllResult:
    return s.ReadAllResult(updated=repo.mark_all_read(conn, principal.user_id), unread_count=0)


def _settings(conn: Conn, user_id: uuid.UUID) -> repo.UserSettings:
    return repo.user_settings(conn, user_id) or repo.UserSettings("UTC", None, None)


def preferences(conn: Conn, principal: Principal) -> s.Preferences:
    st = _settings(conn, principal.user_id)
    quiet = st.quiet_hours
    prefs = domain.effective(repo.stored_preferences(conn, principal.user_id), st.timezone, quiet)
    hours = s.QuietHours(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M")) if quiet else None
    return s.Preferences(
        timezone=prefs.timezone,
        quiet_hours=hours,
        phone_verified=lms_people.verified_phone_of(conn, principal.user_id) is not None,
        types=[s.TypePreferences(type=name, label=kind.label, description=kind.description,  # type: ignore[arg-type]
                                 channels=s.TypeChannels(**{
                                     channel: s.ChannelState(enabled=p.enabled, cadence=p.cadence, locked=p.locked)
                                     for channel, p in prefs.types[name].items()}))
               for name, kind in domain.CATALOGUE.items()])


def update_preferences(conn: Conn, principal: Principal, req: s.PreferencesUpdate) -> s.Preferences:
    if req.types is not None:
        verified = lms_people.verified_phone_of(conn, principal.user_id) is not None
        changes = domain.check_changes([(t.type, t.channels.given()) for t in req.types], phone_verified=verified)
        repo.save_preferences(conn, principal.user_id, changes)
    if "timezone" in req.model_fields_set or "quiet_hours" in req.model_fields_set:
        st = _settings(conn, principal.user_id)
        timezone = req.timezone or st.timezone
        start, end = st.quiet_start, st.quiet_end
        if "quiet_hours" in req.model_fields_set:
            q = req.quiet_hours
            start, end = (time.fromisoformat(q.start), time.fromisoformat(q.end)) if q else (None, None)
            domain.check_quiet_hours(domain.QuietHours(start, end) if start and end else None)
        repo.save_user_settings(conn, principal.user_id, repo.UserSettings(timezone, start, end))
    return preferences(conn, principal)
