"""Notifications: the catalogue of types, the message each event gives whom, and the rules of
preferences. Plain Python (no SQL, AWS or Kafka).

A notification is stored once per (user, type, dedupe key): the key names the object (an
enrolment, a certificate) or, for changes merged within a hold, the course and the hold window,
so a replayed or duplicated event never produces a second one (`repository.insert`).
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from smartcourse.accounts.domain import LINK_PURPOSES, LinkPurpose
from smartcourse.errors import FieldProblem, RuleViolated

Channel = Literal["in_app", "email", "sms"]
Cadence = Literal["immediately", "daily", "weekly", "off"]
CHANNELS: tuple[Channel, ...] = ("in_app", "email", "sms")
CADENCES: tuple[Cadence, ...] = ("immediately", "daily", "weekly", "off")

#: Content changes of one course within this many seconds are one notification (the latest
#: version's), like Canvas's short hold that merges rapid edits.
COURSE_UPDATE_HOLD_S = 3600
#: Enrolment counts an instructor is told about (then every 1,000), and when the course is full.
MILESTONES = (10, 25, 50, 100, 250, 500, 1000)
MAX_LISTED_LESSONS = 5


@dataclass(frozen=True)
class NotificationType:
    name: str
    label: str
    description: str
    audience: Literal["learner", "instructor"]
    #: the channels the type offers, with their default cadence
    defaults: Mapping[Channel, Cadence]
    #: channels the user cannot change (e.g. a revocation always reaches the inbox)
    locked: frozenset[Channel] = field(default_factory=frozenset)


CATALOGUE: dict[str, NotificationType] = {t.name: t for t in (
    NotificationType("enrollment_confirmed", "Enrolment confirmed", "You enrolled in a course.", "learner",
                     {"in_app": "immediately", "email": "immediately", "sms": "off"}),
    NotificationType("course_updated", "Course content changed",
                     "A course you are enrolled in published new or changed lessons (merged per course "
                     "for an hour).", "learner", {"in_app": "immediately", "email": "daily"}),
    NotificationType("certificate_issued", "Certificate issued",
                     "You completed a course: your certificate and its verification link.", "learner",
                     {"in_app": "immediately", "email": "immediately", "sms": "off"}),
    NotificationType("certificate_revoked", "Certificate revoked", "A certificate of yours was revoked, and why.",
                     "learner", {"in_app": "immediately", "email": "immediately", "sms": "off"},
                     locked=frozenset({"in_app"})),
    NotificationType("enrollment_milestone", "Enrolment milestones",
                     "A course you teach reached 10, 25, 50, 100, ... enrolments, or its capacity.", "instructor",
                     {"in_app": "immediately", "email": "weekly"}),
    NotificationType("asset_failed", "Upload could not be processed",
                     "A file you uploaded to a course could not be read for the assistant, and why.", "instructor",
                     {"in_app": "immediately", "email": "immediately"}),
)}
TYPE_NAMES = tuple(CATALOGUE)
#: The types that may be texted: those that offer the sms channel above (off by default: a user
#: turns it on, with a verified number). Learner events that matter at once and happen rarely
#: (an enrolment, a certificate issued or revoked); not the batched or frequent ones (course
#: updates, milestones) nor an upload's failure (the instructor is at the desk that made it).
SMS_TYPES = tuple(name for name, kind in CATALOGUE.items() if "sms" in kind.defaults)
#: A text is sent at once or not at all: there are no SMS digests.
SMS_CADENCES: tuple[Cadence, ...] = ("immediately", "off")


@dataclass(frozen=True)
class Message:
    """One notification for one user (what the inbox shows)."""

    user_id: uuid.UUID
    type: str
    dedupe_key: str
    title: str
    body: str
    link: str | None


# --- what each event tells whom -------------------------------------------------------------------

def enrollment_confirmed(user_id: uuid.UUID, enrollment_id: uuid.UUID, course_id: uuid.UUID,
                         course_title: str) -> Message:
    return Message(user_id, "enrollment_confirmed", f"enrollment:{enrollment_id}",
                   f"You are enrolled in {course_title}",
                   "Your enrolment is confirmed. Open the course to start with its first lesson.",
                   f"#/courses/{course_id}")


def changed_lessons(previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]) -> list[str]:
    """Titles of the lessons a new version adds or changes (title, kind, body, material), in
    reading order. A removed lesson is not listed: there is nothing new to read."""
    def fingerprint(lesson: Mapping[str, Any]) -> tuple[Any, ...]:
        return (lesson.get("title"), lesson.get("kind"), lesson.get("body"), lesson.get("asset_id"))

    before = {str(x["lesson_id"]): fingerprint(x) for x in previous}
    return [str(x["title"]) for x in current if before.get(str(x["lesson_id"])) != fingerprint(x)]


def course_updated(user_id: uuid.UUID, course_id: uuid.UUID, course_title: str, version: int,
                   changed: Sequence[str], published_at: datetime) -> Message | None:
    """None when the new version changes no lesson (only settings or order)."""
    if not changed:
        return None
    window = int(published_at.timestamp()) // COURSE_UPDATE_HOLD_S
    listed = ", ".join(changed[:MAX_LISTED_LESSONS])
    more = len(changed) - MAX_LISTED_LESSONS
    body = f"New or changed: {listed}" + (f" and {more} more." if more > 0 else ".")
    return Message(user_id, "course_updated", f"course:{course_id}:{window}",
                   f"{course_title} was updated (version {version})", body, f"#/courses/{course_id}")


def certificate_issued(user_id: uuid.UUID, certificate_id: uuid.UUID, course_title: str,
                       verify_url: str) -> Message:
    return Message(user_id, "certificate_issued", f"certificate:{certificate_id}",
                   f"Your certificate for {course_title} is ready",
                   "You completed the course. Anyone can check the certificate at its verification link.",
                   verify_url)


def certificate_revoked(user_id: uuid.UUID, certificate_id: uuid.UUID, course_title: str, reason: str) -> Message:
    return Message(user_id, "certificate_revoked", f"certificate:{certificate_id}",
                   f"Your certificate for {course_title} was revoked", f"Reason: {reason}", "#/certificates")


def asset_failed(instructor_id: uuid.UUID, course_id: uuid.UUID, course_title: str, document_id: uuid.UUID,
                 filename: str, reason: str) -> Message:
    return Message(instructor_id, "asset_failed", f"document:{document_id}",
                   f"{filename} could not be processed", f"In {course_title}: {reason}. Upload a corrected file "
                   "to make it available to the course assistant.", f"#/teach/courses/{course_id}")


def milestone(count: int, capacity: int | None) -> int | None:
    """The milestone an enrolment count has just reached (the course's capacity counts as one),
    or None. Called with the live count after each enrolment."""
    if capacity is not None and count == capacity:
        return count
    if count in MILESTONES or (count > MILESTONES[-1] and count % 1000 == 0):
        return count
    return None


def enrollment_milestone(instructor_id: uuid.UUID, course_id: uuid.UUID, course_title: str, reached: int,
                         capacity: int | None) -> Message:
    full = capacity is not None and reached == capacity
    places = "1 place" if reached == 1 else f"{reached} places"
    title = (f"{course_title} is full ({places})" if full
             else f"{course_title} reached {reached} enrolments")
    body = ("No more learners can enrol until you raise its capacity." if full
            else "Thank you for teaching it.")
    return Message(instructor_id, "enrollment_milestone", f"milestone:{course_id}:{reached}", title, body,
                   f"#/teach/courses/{course_id}")


# --- preferences ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelPreference:
    cadence: Cadence
    locked: bool

    @property
    def enabled(self) -> bool:
        return self.cadence != "off"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time


@dataclass(frozen=True)
class Preferences:
    timezone: str
    quiet_hours: QuietHours | None
    #: type -> channel -> preference, for the channels each type offers
    types: dict[str, dict[Channel, ChannelPreference]]


def effective(stored: Mapping[tuple[str, Channel], Cadence], timezone: str,
              quiet_hours: QuietHours | None) -> Preferences:
    """The catalogue's defaults overridden by what the user stored (locked channels keep their default)."""
    types: dict[str, dict[Channel, ChannelPreference]] = {}
    for name, kind in CATALOGUE.items():
        types[name] = {}
        for channel, default in kind.defaults.items():
            locked = channel in kind.locked
            cadence = default if locked else stored.get((name, channel), default)
            types[name][channel] = ChannelPreference(cadence, locked)
    return Preferences(timezone, quiet_hours, types)


def check_changes(entries: Sequence[tuple[str, Mapping[Channel, Cadence]]], *,
                  phone_verified: bool = False) -> list[tuple[str, Channel, Cadence]]:
    """The request's `types` entries (type, channel -> cadence), in order -> what to store. Type,
    channel and cadence names are checked by the request model; here the rules a schema cannot
    state: each type listed once, only channels the type offers, a locked channel left as it is,
    SMS only immediately or off, and turned on only with a verified phone number (one 422 naming
    every field). Turning SMS off is always allowed."""
    out: list[tuple[str, Channel, Cadence]] = []
    problems: list[FieldProblem] = []
    first: dict[str, int] = {}
    for i, (name, channels) in enumerate(entries):
        if name in first:
            problems.append(FieldProblem(f"types.{i}.type", f"{name} is already listed at types.{first[name]}"))
            continue
        first[name] = i
        kind = CATALOGUE[name]
        for channel, cadence in channels.items():
            if channel not in kind.defaults:
                problems.append(FieldProblem(f"types.{i}.channels.{channel}", f"{name} has no {channel} channel"))
            elif channel in kind.locked and cadence != kind.defaults[channel]:
                problems.append(FieldProblem(f"types.{i}.channels.{channel}.cadence",
                                             f"{channel} is always {kind.defaults[channel]} for {name}"))
            elif channel == "sms" and cadence not in SMS_CADENCES:
                problems.append(FieldProblem(f"types.{i}.channels.sms.cadence",
                                             "a text message is sent immediately or not at all (off)"))
            elif channel == "sms" and cadence != "off" and not phone_verified:
                problems.append(FieldProblem(f"types.{i}.channels.sms.cadence",
                                             "needs a verified phone number: add one on your account page "
                                             "(PUT /me/phone) and enter the code texted to it"))
            else:
                out.append((name, channel, cadence))
    if problems:
        raise RuleViolated("these preferences cannot be set", details=problems)
    return out


def check_quiet_hours(quiet: QuietHours | None) -> None:
    if quiet is not None and quiet.start == quiet.end:
        raise RuleViolated("quiet hours must start and end at different times",
                           details=[FieldProblem("quiet_hours.end", "must differ from quiet_hours.start")])


# --- email -----------------------------------------------------------------------------------------

def deliver_at(now: datetime, timezone: str, quiet: QuietHours | None) -> datetime:
    """When an email may go out: now, or when the user's quiet hours end (in their time zone)
    if now falls inside them. Quiet hours may span midnight (22:00 -> 07:00). Never dropped."""
    if quiet is None:
        return now
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    overnight = quiet.start > quiet.end
    inside = (t >= quiet.start or t < quiet.end) if overnight else (quiet.start <= t < quiet.end)
    if not inside:
        return now
    end_day = local.date() + timedelta(days=1) if overnight and t >= quiet.start else local.date()
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(now.tzinfo)


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{subject}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 36rem">
<h1 style="font-size: 1.25rem">{title}</h1>
<p>{body}</p>
{link}<hr>
<p style="font-size: 0.875rem; color: #555">You receive this because of your SmartCourse notification
preferences ({label}). <a href="{unsubscribe}">Stop these emails</a>.</p>
</body></html>
"""


def render_email(message: Message, label: str, unsubscribe_url: str) -> Email:
    """Subject, text and HTML of a notification's email. Every value is escaped into the HTML (the
    template holds no caller text); only absolute https/http links are linked."""
    link = message.link if _absolute(message.link) else None
    text = f"{message.title}\n\n{message.body}\n"
    if link:
        text += f"\n{link}\n"
    text += f"\n--\nYou receive this because of your SmartCourse notification preferences ({label}).\n" \
            f"Stop these emails: {unsubscribe_url}\n"
    e = html.escape
    html_body = _HTML.format(subject=e(message.title), title=e(message.title), body=e(message.body),
                             link=f'<p><a href="{e(link)}">{e(link)}</a></p>\n' if link else "",
                             label=e(label), unsubscribe=e(unsubscribe_url))
    return Email(message.title, text, html_body)


# --- account emails: password reset and email verification links (docs/accounts.md) -------------

AccountEmail = LinkPurpose
#: types of the emails that are the account's own security mail: sent whatever the preferences,
#: never held by quiet hours or batched, no unsubscribe link, no inbox item
ACCOUNT_EMAILS: tuple[AccountEmail, ...] = LINK_PURPOSES
_ACCOUNT_COPY: dict[AccountEmail, tuple[str, str, str]] = {
    "password_reset": ("Reset your SmartCourse password",
                       "Someone (we hope you) asked to reset the password of your SmartCourse account. Open the "
                       "link to choose a new one; every device signed in to your account will be signed out.",
                       "If you did not ask, ignore this email: your password stays as it is."),
    "email_verification": ("Confirm your email address for SmartCourse",
                           "Open the link to confirm this address for your SmartCourse account.",
                           "If you did not create a SmartCourse account, ignore this email."),
}
_ACCOUNT_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{subject}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 36rem">
<h1 style="font-size: 1.25rem">{subject}</h1>
<p>{body}</p>
<p><a href="{link}">{link}</a></p>
<p>The link works once, until {expires}.</p>
<hr><p style="font-size: 0.875rem; color: #555">{ignore}</p>
</body></html>
"""


def render_account_email(purpose: AccountEmail, link: str, expires_at: datetime) -> Email:
    subject, body, ignore = _ACCOUNT_COPY[purpose]
    expires = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = f"{subject}\n\n{body}\n\n{link}\n\nThe link works once, until {expires}.\n\n--\n{ignore}\n"
    e = html.escape
    return Email(subject, text, _ACCOUNT_HTML.format(subject=e(subject), body=e(body), link=e(link),
                                                     expires=e(expires), ignore=e(ignore)))


@dataclass(frozen=True)
class Outgoing:
    """An email ready to send (the mailer adapter turns it into MIME)."""

    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str


class SendFailed(Exception):
    """The provider (SES, SNS) did not take a message; ``transient`` failures are retried later."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.transient = transient


# --- digests ---------------------------------------------------------------------------------------

#: Local time a digest goes out: the daily one for yesterday, the weekly one (Monday) for last week.
DIGEST_HOUR = time(8, 0)
DigestCadence = Literal["daily", "weekly"]
DIGEST_CADENCES: tuple[DigestCadence, ...] = ("daily", "weekly")


def digest_window(now: datetime, timezone: str, cadence: DigestCadence) -> tuple[datetime, datetime]:
    """The latest window whose digest is due at ``now`` in the user's zone: daily = the previous
    local day (due from 08:00 the day after), weekly = the previous Monday-to-Sunday (due Monday
    08:00). (start, end) in UTC, end exclusive."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    today = local.date()
    before_hour = local.time().replace(tzinfo=None) < DIGEST_HOUR
    if cadence == "daily":
        end_day = today - timedelta(days=1) if before_hour else today
        start_day = end_day - timedelta(days=1)
    else:
        monday = today - timedelta(days=today.weekday())
        end_day = monday - timedelta(days=7) if (today == monday and before_hour) else monday
        start_day = end_day - timedelta(days=7)
    start = datetime.combine(start_day, time(0), tzinfo=zone)
    end = datetime.combine(end_day, time(0), tzinfo=zone)
    return start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)


def label_of(type_: str) -> str:
    """What a user calls a type, or a digest (for pages and emails)."""
    if type_ in CATALOGUE:
        return CATALOGUE[type_].label
    cadence = digest_cadence_of(type_)
    return f"{cadence.capitalize()} digest" if cadence else type_


def digest_type(cadence: DigestCadence) -> str:
    """What a digest's email (and its unsubscribe link) is about: every type batched at that cadence."""
    return f"digest_{cadence}"


def digest_cadence_of(type_: str) -> DigestCadence | None:
    """The cadence whose digest ``type_`` names (`digest_type`), or None for a notification type."""
    return next((c for c in DIGEST_CADENCES if type_ == digest_type(c)), None)


def render_digest(cadence: DigestCadence, items: Sequence[Message], unsubscribe_url: str) -> Email:
    """One email for a user's window: each notification's title and text, newest first."""
    n = len(items)
    period = "day" if cadence == "daily" else "week"
    subject = f"Your SmartCourse {cadence} digest: {n} notification{'s' if n != 1 else ''}"
    label = f"{cadence} digest"
    text = f"{subject}\n" + "".join(f"\n* {m.title}\n  {m.body}\n" + (f"  {m.link}\n" if _absolute(m.link) else "")
                                    for m in items)
    text += f"\n--\nEverything you chose to receive once a {period} by email ({label}).\n" \
            f"Stop these emails: {unsubscribe_url}\n"
    e = html.escape
    rows = "".join(f"<li><strong>{e(m.title)}</strong><br>{e(m.body)}"
                   + (f'<br><a href="{e(m.link or "")}">{e(m.link or "")}</a>' if _absolute(m.link) else "")
                   + "</li>\n" for m in items)
    body = _HTML.format(subject=e(subject), title=e(subject), body=f"</p><ul>\n{rows}</ul><p>", link="",
                        label=e(label), unsubscribe=e(unsubscribe_url))
    return Email(subject, text, body)


def _absolute(link: str | None) -> bool:
    return bool(link) and str(link).startswith(("https://", "http://"))


# --- text messages (SMS) ------------------------------------------------------------------------------

#: GSM 03.38 basic character set: a text of these fits 160 characters in one SMS (other characters
#: make it UCS-2, 70 per SMS). The extension characters (^{}\\[~]|€) count twice and are left out.
GSM_CHARS = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
SMS_LIMIT = 160
_SMS_PREFIX = "SmartCourse: "


def is_gsm(text: str) -> bool:
    return all(c in GSM_CHARS for c in text)


def _gsm(text: str) -> str:
    """``text`` with the typographic characters GSM lacks replaced by their plain forms (a curly
    quote would make the whole text UCS-2: 70 characters per SMS instead of 160)."""
    plain = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
             "\u2026": "...", "\u00a0": " "}
    return "".join(plain.get(c, c) for c in " ".join(text.split()))


def sms_link(link: str | None, app_url: str | None) -> str | None:
    """The absolute link a text can carry: a public URL as it is; an app route (#/...) on the web
    app's URL when the deployment names it (WebOrigin), else none."""
    if _absolute(link):
        return link
    if link and link.startswith("#/") and app_url:
        return f"{app_url.rstrip('/')}/{link}"
    return None


def render_sms(message: Message, app_url: str | None = None) -> str:
    """A notification as one text: "SmartCourse: <title>. <body> <link>", the body only if it
    fits, the title shortened (never the link) to stay within 160 GSM characters where possible."""
    link = sms_link(message.link, app_url)
    tail = f" {link}" if link else ""
    title = _gsm(message.title).rstrip(".")
    body = _gsm(message.body)
    full = f"{_SMS_PREFIX}{title}. {body}{tail}"
    if len(full) <= SMS_LIMIT:
        return full
    short = f"{_SMS_PREFIX}{title}.{tail}"
    if len(short) <= SMS_LIMIT:
        return short
    room = SMS_LIMIT - len(_SMS_PREFIX) - len(tail) - len("...")
    return f"{_SMS_PREFIX}{title[:max(room, 20)].rstrip()}...{tail}"


def verification_sms(code: str, minutes: int) -> str:
    """The text that carries a phone verification code (the code first: phones offer to copy it)."""
    return f"{code} is your SmartCourse verification code. It expires in {minutes} minutes. Do not share it."


@dataclass(frozen=True)
class OutgoingSms:
    """A text ready to send (the texter adapter publishes it)."""

    to: str
    body: str
