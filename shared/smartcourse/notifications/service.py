"""Notifications use cases: events -> inbox rows (NotificationsFunction's consumer) and the
caller's inbox and preferences (the API). Each runs in the caller's transaction: the consumer's
(with its processed_events row) or the API's.

Who is told what (the catalogue is `domain.CATALOGUE`, docs/notifications.md):
- enrollment.created -> the learner (enrollment_confirmed); the instructor when the course's
  enrolments reach a milestone or its capacity (enrollment_milestone);
- course.published (version 2 and later) -> each learner with an active enrolment, if lessons
  were added or changed since the previous version (course_updated, merged per course per hour);
- certificate.issued -> the learner, with the verification link (certificate_issued);
- certificate.revoked -> the learner, with the reason (certificate_revoked).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

import psycopg

from smartcourse.auth import Principal
from smartcourse.cursor import decode_cursor, encode_cursor
from smartcourse.errors import NotFound
from smartcourse.events import EventEnvelope
from smartcourse.notifications import domain
from smartcourse.notifications import repository as repo
from smartcourse.notifications import schemas as s
from smartcourse.observability import count, logger
from smartcourse.readonly import lms_people

Conn = psycopg.Connection[Any]


# --- events -> notifications (the consumer) -------------------------------------------------------

def _store(conn: Conn, envelope: EventEnvelope, messages: list[domain.Message], *, merge: bool = False) -> int:
    added = sum(repo.insert(conn, m, envelope.id, merge=merge) for m in messages)
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


def on_enrollment_created(conn: Conn, envelope: EventEnvelope) -> None:
    d = envelope.data
    course_id, enrollment_id = uuid.UUID(d["course_id"]), uuid.UUID(d["enrollment_id"])
    course = _course(conn, course_id)
    messages = [domain.enrollment_confirmed(uuid.UUID(d["user_id"]), enrollment_id, course_id, course.title)]
    count_then = lms_people.enrollments_until(conn, course_id, datetime.fromisoformat(d["enrolled_at"]))
    reached = domain.milestone(count_then, course.capacity)
    if reached is not None:
        messages.append(domain.enrollment_milestone(course.instructor_id, course_id, course.title, reached,
                                                    course.capacity))
    _store(conn, envelope, messages)


def on_course_published(conn: Conn, envelope: EventEnvelope) -> None:
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
    _store(conn, envelope, messages, merge=True)


def on_certificate_issued(conn: Conn, envelope: EventEnvelope) -> None:
    d = envelope.data
    course = _course(conn, uuid.UUID(d["course_id"]))
    _store(conn, envelope, [domain.certificate_issued(uuid.UUID(d["user_id"]), uuid.UUID(d["certificate_id"]),
                                                             course.title, str(d["verify_url"]))])


def on_certificate_revoked(conn: Conn, envelope: EventEnvelope) -> None:
    d = envelope.data
    course = _course(conn, uuid.UUID(d["course_id"]))
    _store(conn, envelope, [domain.certificate_revoked(uuid.UUID(d["user_id"]),
                                                              uuid.UUID(d["certificate_id"]), course.title,
                                                              str(d["reason"]))])


HANDLERS = {
    "enrollment.created": on_enrollment_created,
    "course.published": on_course_published,
    "certificate.issued": on_certificate_issued,
    "certificate.revoked": on_certificate_revoked,
}


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
    quiet = domain.QuietHours(st.quiet_start, st.quiet_end) if st.quiet_start and st.quiet_end else None
    prefs = domain.effective(repo.stored_preferences(conn, principal.user_id), st.timezone, quiet)
    hours = s.QuietHours(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M")) if quiet else None
    return s.Preferences(
        timezone=prefs.timezone,
        quiet_hours=hours,
        types=[s.TypePreferences(type=name, label=kind.label, description=kind.description,  # type: ignore[arg-type]
                                 channels=s.TypeChannels(**{
                                     channel: s.ChannelState(enabled=p.enabled, cadence=p.cadence, locked=p.locked)
                                     for channel, p in prefs.types[name].items()}))
               for name, kind in domain.CATALOGUE.items()])


def update_preferences(conn: Conn, principal: Principal, req: s.PreferencesUpdate) -> s.Preferences:
    if req.types is not None:
        changes = domain.check_changes([(t.type, t.channels.given()) for t in req.types])
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
