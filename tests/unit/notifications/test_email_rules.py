"""Email rules without I/O: quiet hours in the user's zone, escaping, the MIME headers of RFC
8058, and unsubscribe tokens (signed, single-purpose, expiring)."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartcourse.notifications import domain, tokens
from smartcourse.notifications.domain import Outgoing, QuietHours
from smartcourse.notifications.mailer import mime

PARIS = "Europe/Paris"


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-12-06T21:30:00", "2026-12-07T06:00:00"),   # 22:30 Paris, quiet until 07:00 Paris = 06:00 UTC
    ("2026-12-06T23:59:00", "2026-12-07T06:00:00"),   # after midnight Paris, same morning
    ("2026-12-06T06:00:00", "2026-12-06T06:00:00"),   # 07:00 Paris: quiet hours just ended
    ("2026-12-06T12:00:00", "2026-12-06T12:00:00"),   # afternoon: now
    ("2026-07-01T04:30:00", "2026-07-01T05:00:00"),   # summer time: 06:30 CEST, quiet until 07:00 = 05:00 UTC
])
def test_quiet_hours_over_midnight_defer_to_their_end_in_the_users_zone(now: str, expected: str) -> None:
    quiet = QuietHours(time(22, 0), time(7, 0))
    assert domain.deliver_at(utc(now), PARIS, quiet) == utc(expected)


def test_daytime_quiet_hours_and_none() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert domain.deliver_at(utc("2026-12-06T11:15:00"), PARIS, lunch) == utc("2026-12-06T12:30:00")
    assert domain.deliver_at(utc("2026-12-06T11:15:00"), PARIS, None) == utc("2026-12-06T11:15:00")
    tokyo = domain.deliver_at(utc("2026-12-06T13:30:00"), "Asia/Tokyo", QuietHours(time(22, 0), time(7, 0)))
    assert tokyo.astimezone(ZoneInfo("Asia/Tokyo")).time() == time(7, 0)


def test_the_email_escapes_what_users_wrote_and_links_only_absolute_urls() -> None:
    m = domain.Message(uuid.uuid4(), "certificate_issued", "k", 'Cert for <script>x</script> & "co"', "Body <i>",
                       "https://x.example/certificates/A?b=1&c=2")
    mail = domain.render_email(m, "Certificate issued", "https://api.example/unsubscribe/t")
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html and "&lt;i&gt;" in mail.html
    assert 'href="https://x.example/certificates/A?b=1&amp;c=2"' in mail.html
    assert "https://api.example/unsubscribe/t" in mail.text and mail.subject == m.title
    local = domain.Message(m.user_id, "enrollment_confirmed", "k", "T", "B", "#/courses/1")
    assert "#/courses" not in domain.render_email(local, "x", "u").html


def test_the_mime_message_carries_one_click_unsubscribe_and_both_bodies() -> None:
    raw = mime("SmartCourse <no-reply@smartcourse.example>",
               Outgoing("zoë@example.com", "Hello é", "text body", "<p>html body</p>", "https://api.example/u/t"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["List-Unsubscribe"] == "<https://api.example/u/t>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Hello é" and msg["To"] == "zoë@example.com"
    assert msg.get_body(("plain",)).get_content().strip() == "text body"  # type: ignore[union-attr]
    assert msg.get_body(("html",)).get_content().strip() == "<p>html body</p>"  # type: ignore[union-attr]
    assert msg["Message-ID"].endswith("@smartcourse.example>")


def test_tokens_are_signed_single_purpose_and_expire() -> None:
    key, now = b"k" * 32, utc("2026-12-06T10:00:00")
    who = tokens.Unsubscribe(uuid.uuid4(), "course_updated", "email")
    token = tokens.sign(key, who, now)
    assert re.fullmatch(tokens.TOKEN_PATTERN, token)
    assert tokens.verify(key, token, now) == who
    assert tokens.verify(key, token, now + tokens.LIFETIME) == who
    for bad_key, at in ((b"x" * 32, now), (key, now + tokens.LIFETIME + timedelta(seconds=1))):
        with pytest.raises(tokens.InvalidToken):
            tokens.verify(bad_key, token, at)
    payload, _, mac = token.partition(".")
    for tampered in (payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac, payload, "", "a.b"):
        with pytest.raises(tokens.InvalidToken):
            tokens.verify(key, tampered, now)


@pytest.mark.parametrize(("now", "cadence", "start", "end"), [
    # Paris is UTC+1 in December: local midnight = 23:00 UTC the day before
    ("2026-12-09T07:30:00", "daily", "2026-12-07T23:00:00", "2026-12-08T23:00:00"),   # 08:30 Wed: Tuesday's
    ("2026-12-09T06:30:00", "daily", "2026-12-06T23:00:00", "2026-12-07T23:00:00"),   # 07:30 Wed: still Monday's
    ("2026-12-07T07:30:00", "weekly", "2026-11-29T23:00:00", "2026-12-06T23:00:00"),  # Mon 08:30: last week
    ("2026-12-07T06:30:00", "weekly", "2026-11-22T23:00:00", "2026-11-29T23:00:00"),  # Mon 07:30: the week before
    ("2026-12-10T12:00:00", "weekly", "2026-11-29T23:00:00", "2026-12-06T23:00:00"),  # Thursday: last week
    ("2026-03-30T07:30:00", "daily", "2026-03-28T23:00:00", "2026-03-29T22:00:00"),   # the 23-hour DST day
])
def test_a_digest_window_is_the_last_local_day_or_week_due_at_eight(now: str, cadence: str, start: str,
                                                                    end: str) -> None:
    assert domain.digest_window(utc(now), PARIS, cadence) == (utc(start), utc(end))  # type: ignore[arg-type]


def test_a_digest_lists_each_notification_escaped_with_absolute_links_only() -> None:
    user = uuid.uuid4()
    items = [domain.Message(user, "course_updated", "a", "<SQL> updated", "New: Joins & <Indexes>.", "#/courses/1"),
             domain.Message(user, "certificate_issued", "b", "Certificate", "Done.", "https://v.example/c/X")]
    mail = domain.render_digest("daily", items, "https://api.example/unsubscribe/t")
    assert mail.subject == "Your SmartCourse daily digest: 2 notifications"
    assert "&lt;SQL&gt; updated" in mail.html and "<SQL>" not in mail.html and "#/courses/1" not in mail.html
    assert 'href="https://v.example/c/X"' in mail.html and "https://api.example/unsubscribe/t" in mail.text
    assert domain.digest_type("weekly") == "digest_weekly"
