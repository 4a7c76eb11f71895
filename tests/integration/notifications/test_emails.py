"""Notification emails on the real stack: queued with the notification (in the consumer's
transaction), sent by the schedule through SES (moto on 127.0.0.1:4566, read back from moto's
own record of what it was sent), at most once, deferred by quiet hours, never to a suppressed
address or after an unsubscribe; RFC 8058 one-click unsubscribe through the API without sign-in."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from smartcourse.db import Database
from smartcourse.events import EventEnvelope
from smartcourse.notifications import service, tokens
from smartcourse.notifications.domain import Outgoing, SendFailed
from testkit.moto import moto_data
from testkit.msk import msk_event
from tests.integration.lms.conftest import Api
from tests.integration.notifications.conftest import Ctx

pytestmark = pytest.mark.integration


def sent_to(endpoint: str, address: str) -> list[email.message.EmailMessage]:
    """What moto's SES was sent for `address` (moto records every message it accepts)."""
    raws = [m["raw_data"] for m in moto_data(endpoint).get("ses", {}).get("RawMessage", [])
            if any(address in d for d in m.get("destinations", []))]
    return [email.message_from_string(r, policy=email.policy.default) for r in raws]  # type: ignore[misc]


def enrol(api: Api, db: psycopg.Connection[Any], title: str = "Databases") -> tuple[str, dict[str, Any], EventEnvelope]:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    course = api.published_course(teacher, lessons=1, title=title)["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner)
    assert enrolled.status == 201, enrolled
    row = db.execute("SELECT payload FROM lms.outbox WHERE event_type = 'smartcourse.enrollment.created.v1' "
                     "AND aggregate_id = %s", (enrolled.body["id"],)).fetchone()
    assert row is not None
    return learner, me, EventEnvelope.model_validate(row["payload"])


def consume(fn: Any, env: dict[str, str], *events: EventEnvelope) -> None:
    batch = msk_event(list(events), f"{env['TOPIC_PREFIX']}.enrollment", first_offset=uuid.uuid4().int % 10**9)
    out = fn.handler(batch, Ctx())
    assert out == {"batchItemFailures": []}, out


def schedule(fn: Any) -> dict[str, int]:
    result: dict[str, int] = fn.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Ctx())
    return result


def emails(db: psycopg.Connection[Any], user_id: str) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM notify.emails WHERE user_id = %s ORDER BY created_at", (user_id,)).fetchall()


def test_an_enrolment_email_is_sent_once_with_one_click_unsubscribe_headers(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    learner, me, event = enrol(api, db, title="SQL <b>bold</b> & co")
    consume(fn, in_process_env, event)
    consume(fn, in_process_env, event)  # redelivered
    [queued] = emails(db, me["id"])
    assert queued["status"] == "pending" and queued["to_address"] == me["email"]
    schedule(fn)
    schedule(fn)  # a second run finds nothing more to send
    [done] = emails(db, me["id"])
    assert done["status"] == "sent" and done["ses_message_id"] and done["attempts"] == 1
    [msg] = sent_to(in_process_env["AWS_ENDPOINT_URL"], me["email"])
    assert msg["Subject"] == "You are enrolled in SQL <b>bold</b> & co"
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{in_process_env['PUBLIC_BASE_URL']}/unsubscribe/") and unsubscribe.endswith(">")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "You are enrolled in SQL <b>bold</b> & co" in text
    assert "SQL &lt;b&gt;bold&lt;/b&gt; &amp; co" in html and "<b>bold</b>" not in html  # escaped
    # The link works without signing in: the page first (changes nothing), then the one-click POST
    path = unsubscribe[1:-1].removeprefix(in_process_env["PUBLIC_BASE_URL"])
    page = api.client.http.get(path)
    assert page.status_code == 200 and "text/html" in {k.lower(): v for k, v in page.headers.items()}["content-type"]
    assert b'name="List-Unsubscribe" value="One-Click"' in page.body
    prefs = {t["type"]: t["channels"] for t in api.call("GET", "/me/notification-preferences", learner).body["types"]}
    assert prefs["enrollment_confirmed"]["email"]["cadence"] == "immediately"
    done_page = api.client.http.post(path, body=b"List-Unsubscribe=One-Click",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert done_page.status_code == 200 and b"You are unsubscribed" in done_page.body
    prefs = {t["type"]: t["channels"] for t in api.call("GET", "/me/notification-preferences", learner).body["types"]}
    assert prefs["enrollment_confirmed"]["email"]["cadence"] == "off"
    again = api.client.http.post(path, body=b"List-Unsubscribe=One-Click",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200  # the same link again: still off, no error
    wrong = api.client.http.post(path, body=b"List-Unsubscribe=Two-Clicks",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert wrong.status_code == 400


def test_unsubscribe_links_that_are_forged_expired_or_json_are_refused(
        api: Api, in_process_env: dict[str, str]) -> None:
    key = in_process_env["JWT_SECRET"].encode()
    who = tokens.Unsubscribe(uuid.uuid4(), "enrollment_confirmed", "email")
    good = tokens.sign(key, who, datetime.now(UTC))
    form = {"content-type": "application/x-www-form-urlencoded"}
    forged = tokens.sign(b"another key, another deployment....", who, datetime.now(UTC))
    expired = tokens.sign(key, who, datetime.now(UTC) - tokens.LIFETIME - timedelta(minutes=1))
    locked = tokens.sign(key, tokens.Unsubscribe(who.user_id, "certificate_revoked", "in_app"), datetime.now(UTC))
    for token, status in ((forged, 404), (expired, 404), (locked, 404), (good[:-2] + "AA", 404), ("x", 404)):
        r = api.client.http.post(f"/unsubscribe/{token}", body=b"List-Unsubscribe=One-Click", headers=form)
        assert r.status_code == status, (token, r.status_code, r.body)
    assert b"expired" in api.client.http.get(f"/unsubscribe/{expired}").body
    as_json = api.client.http.post(f"/unsubscribe/{good}", body=b'{"List-Unsubscribe": "One-Click"}',
                                   headers={"content-type": "application/json"})
    assert as_json.status_code == 415


def test_quiet_hours_defer_an_email_until_they_end_and_never_drop_it(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    # quiet for the 23 hours around now, in the learner's zone (Tokyo: UTC+9, no DST)
    local = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=22)).strftime("%H:%M")
    assert api.call("PUT", "/me/notification-preferences", learner, {
        "timezone": "Asia/Tokyo", "quiet_hours": {"start": start, "end": end}}).status == 200
    course = api.published_course(teacher, lessons=1)["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner).body
    row = db.execute("SELECT payload FROM lms.outbox WHERE aggregate_id = %s AND event_type = "
                     "'smartcourse.enrollment.created.v1'", (enrolled["id"],)).fetchone()
    consume(fn, in_process_env, EventEnvelope.model_validate(row["payload"]))
    [queued] = emails(db, me["id"])
    assert queued["status"] == "pending" and queued["due_at"] > datetime.now(UTC) + timedelta(hours=21)
    assert queued["due_at"].astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == end
    schedule(fn)
    assert emails(db, me["id"])[0]["status"] == "pending"  # still quiet: kept, not sent, not dropped
    d = fn.deps()
    out = service.deliver_due(d.database, d.mailer, now=queued["due_at"] + timedelta(seconds=1))
    assert out["sent"] >= 1 and emails(db, me["id"])[0]["status"] == "sent"
    assert len(sent_to(in_process_env["AWS_ENDPOINT_URL"], me["email"])) == 1


def test_no_email_when_the_type_is_off_or_the_address_is_suppressed(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    off, off_me = api.user("student")
    assert api.call("PUT", "/me/notification-preferences", off, {"types": [
        {"type": "enrollment_confirmed", "channels": {"email": {"cadence": "off"}}}]}).status == 200
    _, bounced = api.user("student")
    db.execute("INSERT INTO notify.suppressions (address, reason) VALUES (%s, 'hard bounce')", (bounced["email"],))
    course = api.published_course(teacher, lessons=1)["course"]
    for token in (off, api.call("POST", "/auth/login", json_body={"email": bounced["email"],
                                                                  "password": "a-long-enough-password"}).body[
                      "access_token"]):
        assert api.call("POST", f"/courses/{course['id']}/enrollments", token).status == 201
    rows = db.execute("SELECT payload FROM lms.outbox WHERE event_type = 'smartcourse.enrollment.created.v1' "
                      "AND payload->'data'->>'course_id' = %s", (course["id"],)).fetchall()
    consume(fn, in_process_env, *[EventEnvelope.model_validate(r["payload"]) for r in rows])
    assert emails(db, off_me["id"]) == []  # in-app only
    [held] = emails(db, bounced["id"])
    assert held["status"] == "suppressed"
    schedule(fn)
    assert sent_to(in_process_env["AWS_ENDPOINT_URL"], bounced["email"]) == []


class FlakySes:
    def __init__(self, *failures: SendFailed) -> None:
        self.failures = list(failures)
        self.sent: list[Outgoing] = []

    def send(self, mail: Outgoing) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(mail)
        return "m-1"


def test_ses_failures_are_retried_when_transient_and_recorded_when_not(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    _, me, event = enrol(api, db)
    consume(fn, in_process_env, event)
    database = Database(in_process_env["DATABASE_URL"])
    try:
        flaky = FlakySes(SendFailed("SES TooManyRequestsException", transient=True))
        now = datetime.now(UTC)
        assert service.deliver_due(database, flaky, now=now)["retried"] >= 1
        [row] = emails(db, me["id"])
        assert (row["status"], row["attempts"]) == ("pending", 1) and row["due_at"] > now
        assert "TooManyRequests" in row["last_error"]
        service.deliver_due(database, flaky, now=now + timedelta(minutes=5))
        [row] = emails(db, me["id"])
        assert (row["status"], row["attempts"]) == ("sent", 2) and [m.to for m in flaky.sent] == [me["email"]]

        _, other, event2 = enrol(api, db)
        consume(fn, in_process_env, event2)
        rejecting = FlakySes(SendFailed("SES MessageRejected: bad address", transient=False))
        service.deliver_due(database, rejecting, now=datetime.now(UTC))
        [row] = emails(db, other["id"])
        assert row["status"] == "failed" and "MessageRejected" in row["last_error"]
    finally:
        database.close()
