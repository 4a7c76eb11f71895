"""Phone numbers and text messages on the real stack: PUT /me/phone stores the number unverified and
writes an event with the code's id only; NotificationsFunction derives the code and texts it
through SNS (moto on 127.0.0.1:4566, read back from moto's record of what it was asked to send);
POST /me/phone/verify with that code verifies the number (wrong, expired and over-tried codes
refused, naming `code`); then a type turned on for SMS is texted once, deferred by quiet hours
and never twice for a replayed event; SNS failures are retried or recorded like SES ones."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from devstack.triggers import msk_event as msk_event_of
from smartcourse.db import Database
from smartcourse.events import EventEnvelope
from smartcourse.notifications import service
from smartcourse.notifications.domain import OutgoingSms, SendFailed
from smartcourse.relay import Relay, RelaySettings
from testkit.moto import texts_to
from testkit.msk import msk_event
from tests.integration.lms.conftest import Api
from tests.integration.notifications.conftest import Ctx
from tests.integration.notifications.test_emails import consume, enrol, schedule

pytestmark = pytest.mark.integration


def new_number() -> str:
    return f"+1555{secrets.randbelow(10**7):07d}"


def _events(db: psycopg.Connection[Any], user_id: str) -> list[EventEnvelope]:
    rows = db.execute("SELECT payload FROM lms.outbox WHERE event_type = "
                      "'smartcourse.user.phone_verification_requested.v1' AND aggregate_id = %s ORDER BY seq",
                      (user_id,)).fetchall()
    return [EventEnvelope.model_validate(r["payload"]) for r in rows]


def _deliver_user_events(fn: Any, env: dict[str, str], *events: EventEnvelope) -> None:
    batch = msk_event(list(events), f"{env['TOPIC_PREFIX']}.user", first_offset=uuid.uuid4().int % 10**9)
    assert fn.handler(batch, Ctx()) == {"batchItemFailures": []}


def _texted_code(env: dict[str, str], number: str) -> str:
    [text] = texts_to(env["AWS_ENDPOINT_URL"], number)
    found = re.match(r"^([0-9]{6}) is your SmartCourse verification code", text)
    assert found, text
    return found.group(1)


def sms_rows(db: psycopg.Connection[Any], user_id: str) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM notify.sms WHERE user_id = %s ORDER BY created_at", (user_id,)).fetchall()


def verified_phone(api: Api, db: psycopg.Connection[Any], fn: Any, env: dict[str, str], token: str,
                   user_id: str) -> str:
    """Give the user a number and verify it with the texted code, through the API and the function."""
    number = new_number()
    assert api.call("PUT", "/me/phone", token, {"phone": number}).status == 200
    _deliver_user_events(fn, env, *_events(db, user_id)[-1:])
    schedule(fn)
    ok = api.call("POST", "/me/phone/verify", token, {"code": _texted_code(env, number)})
    assert ok.status == 200 and ok.body["verified"] is True, ok
    return number


def test_a_phone_number_is_verified_with_the_code_texted_to_it(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    token, me = api.user("student")
    bad = api.call("PUT", "/me/phone", token, {"phone": "07700 900123"})
    assert bad.status == 400 and [d["field"] for d in bad.body["error"]["details"]] == ["phone"]
    number = new_number()
    put = api.call("PUT", "/me/phone", token, {"phone": number})
    assert put.status == 200, put
    assert put.body["phone"] == number and put.body["verified"] is False and put.body["verified_at"] is None
    expires = datetime.fromisoformat(put.body["code_expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    user = api.call("GET", "/me", token).body["user"]
    assert (user["phone"], user["phone_verified_at"]) == (number, None)
    # The event names the code's row, never the code or the number
    [event] = _events(db, me["id"])
    assert set(event.data) == {"code_id", "user_id", "expires_at"} and number not in json.dumps(event.data)
    assert api.call("POST", "/me/phone/verify", token, {"code": "12345"}).status == 400  # not 6 digits
    _deliver_user_events(fn, in_process_env, event, event)  # redelivered: one text
    [queued] = sms_rows(db, me["id"])
    assert (queued["type"], queued["to_number"], queued["body"]) == ("phone_verification", number, None)
    schedule(fn)
    schedule(fn)
    code = _texted_code(in_process_env, number)  # exactly one text
    [sent] = sms_rows(db, me["id"])
    assert sent["status"] == "sent" and sent["sns_message_id"]
    # The code rests nowhere: not in the outbox, not in notify.* (it is derived from the id)
    for table, owner in (("lms.outbox", "aggregate_id"), ("lms.phone_codes", "user_id"), ("notify.sms", "user_id")):
        row = db.execute(f"SELECT count(*) AS n FROM {table} x WHERE x::text LIKE %s AND {owner}::text = %s",
                         (f"%{code}%", me["id"])).fetchone()
        assert row is not None and row["n"] == 0, table
    wrong = api.call("POST", "/me/phone/verify", token, {"code": str((int(code) + 1) % 10**6).zfill(6)})
    assert wrong.status == 422 and wrong.body["error"]["details"] == [
        {"field": "code", "problem": "does not match (4 tries left)"}]
    ok = api.call("POST", "/me/phone/verify", token, {"code": code})
    assert ok.status == 200 and ok.body["verified"] is True and ok.body["code_expires_at"] is None
    assert api.call("GET", "/me", token).body["user"]["phone_verified_at"]
    again = api.call("POST", "/me/phone/verify", token, {"code": code})  # spent
    assert again.status == 422 and "no code was sent" in again.body["error"]["details"][0]["problem"]
    # The same number again changes nothing and texts nothing; the export shows it
    assert api.call("PUT", "/me/phone", token, {"phone": number}).body["verified"] is True
    assert len(_events(db, me["id"])) == 1
    export = api.call("GET", "/me/export", token).body
    assert export["account"]["phone"] == number and export["account"]["phone_verified_at"]
    assert [c["phone"] for c in export["phone_codes"]] == [number]
    assert "code" not in export["phone_codes"][0]
    # Removing it: nothing is texted any more
    assert api.call("DELETE", "/me/phone", token).status == 204
    user = api.call("GET", "/me", token).body["user"]
    assert (user["phone"], user["phone_verified_at"]) == (None, None)


def _through_kafka(env: dict[str, str], user_id: str, timeout_s: float = 30.0) -> tuple[dict[str, Any], bytes]:
    """Relay the outbox to Kafka (the real relay, the stage's topics), then read the user's
    phone verification records from `<prefix>.user` as Lambda's MSK mapping delivers them."""
    from kafka import KafkaConsumer

    settings = RelaySettings(database_url=env["DATABASE_URL"], kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
                             topic_prefix=env["TOPIC_PREFIX"], kafka_security_protocol="PLAINTEXT",
                             relay_safety_margin_ms=0)
    relay = Relay(settings, Database(env["DATABASE_URL"]))
    try:
        for _ in range(100):
            if not relay.run_once().published:
                break
    finally:
        relay.close()
        relay.database.close()
    consumer = KafkaConsumer(f"{env['TOPIC_PREFIX']}.user", bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
                             group_id=f"sms-test-{secrets.token_hex(4)}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    found: list[Any] = []
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    try:
        while not found and datetime.now(UTC) < deadline:
            found = [r for r in consumer if r.key == user_id.encode()
                     and b"phone_verification_requested" in (r.value or b"")]
    finally:
        consumer.close()
    assert found, "the event did not reach Kafka"
    return msk_event_of(found, env["KAFKA_BOOTSTRAP_SERVERS"], "arn:aws:kafka:us-east-1:123456789012:cluster/x/y"), \
        b"".join(r.value for r in found)


def test_the_code_travels_api_outbox_relay_kafka_function_sns(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    token, me = api.user("student")
    number = new_number()
    assert api.call("PUT", "/me/phone", token, {"phone": number}).status == 200
    batch, values = _through_kafka(in_process_env, me["id"])
    assert number.encode() not in values  # Kafka carries ids only
    assert fn.handler(batch, Ctx()) == {"batchItemFailures": []}
    assert fn.handler(batch, Ctx()) == {"batchItemFailures": []}  # redelivered by the mapping
    # Texted at once, by the invocation that handled the event (not at the next minute's schedule)
    code = _texted_code(in_process_env, number)
    assert code.encode() not in values
    assert api.call("POST", "/me/phone/verify", token, {"code": code}).body["verified"] is True


def test_a_code_stops_working_after_five_wrong_tries_or_ten_minutes(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    token, me = api.user("student")
    number = new_number()
    assert api.call("PUT", "/me/phone", token, {"phone": number}).status == 200
    _deliver_user_events(fn, in_process_env, *_events(db, me["id"]))
    schedule(fn)
    code = _texted_code(in_process_env, number)
    wrong = str((int(code) + 7) % 10**6).zfill(6)
    answers = [api.call("POST", "/me/phone/verify", token, {"code": wrong}) for _ in range(5)]
    assert [a.status for a in answers] == [422] * 5
    assert "last try" in answers[-1].body["error"]["details"][0]["problem"]
    late = api.call("POST", "/me/phone/verify", token, {"code": code})  # the right one, too late
    assert late.status == 422 and "5 times" in late.body["error"]["details"][0]["problem"]
    assert api.call("GET", "/me", token).body["user"]["phone_verified_at"] is None
    # A new code (PUT again) works; an expired one does not
    assert api.call("PUT", "/me/phone", token, {"phone": number}).status == 200
    db.execute("UPDATE lms.phone_codes SET expires_at = now() - interval '1 second' WHERE user_id = %s "
               "AND used_at IS NULL AND closed_at IS NULL", (me["id"],))
    expired = api.call("POST", "/me/phone/verify", token, {"code": "000000"})
    assert expired.status == 422 and "has expired" in expired.body["error"]["details"][0]["problem"]
    # The expired code's text, not yet sent, is cancelled rather than sent late
    _deliver_user_events(fn, in_process_env, _events(db, me["id"])[-1])
    schedule(fn)
    assert sms_rows(db, me["id"])[-1]["status"] == "cancelled"
    assert len(texts_to(in_process_env["AWS_ENDPOINT_URL"], number)) == 1


def test_at_most_three_codes_an_hour_per_account_and_per_number(api: Api, db: psycopg.Connection[Any]) -> None:
    token, me = api.user("student")
    numbers = [new_number() for _ in range(4)]
    for n in numbers[:3]:
        assert api.call("PUT", "/me/phone", token, {"phone": n}).status == 200
    limited = api.call("PUT", "/me/phone", token, {"phone": numbers[3]})
    assert limited.status == 429 and limited.body["error"]["code"] == "rate_limited"
    retry = limited.body["error"]["retry_after_s"]
    assert limited.headers["retry-after"] == str(retry) and 3500 <= retry <= 3600
    assert api.call("GET", "/me", token).body["user"]["phone"] == numbers[2]  # nothing changed
    assert len(_events(db, me["id"])) == 3
    # One number, asked for by several accounts (texting a stranger's phone): 3 an hour as well
    victim = new_number()
    answers = [api.call("PUT", "/me/phone", api.user("student")[0], {"phone": victim}).status for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_a_type_turned_on_for_sms_is_texted_once_to_the_verified_number(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    on = {"types": [{"type": "enrollment_confirmed", "channels": {"sms": {"cadence": "immediately"}}}]}
    refused = api.call("PUT", "/me/notification-preferences", learner, on)
    assert refused.status == 422 and "verified phone number" in refused.body["error"]["details"][0]["problem"]
    number = verified_phone(api, db, fn, in_process_env, learner, me["id"])
    prefs = api.call("PUT", "/me/notification-preferences", learner, on)
    assert prefs.status == 200 and prefs.body["phone_verified"] is True
    course = api.published_course(teacher, lessons=1, title="Tides & “moons”")["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner).body
    row = db.execute("SELECT payload FROM lms.outbox WHERE aggregate_id = %s AND event_type = "
                     "'smartcourse.enrollment.created.v1'", (enrolled["id"],)).fetchone()
    event = EventEnvelope.model_validate(row["payload"])
    consume(fn, in_process_env, event)
    consume(fn, in_process_env, event)  # redelivered
    schedule(fn)
    consume(fn, in_process_env, event)  # replayed after the text went out
    schedule(fn)
    texts = texts_to(in_process_env["AWS_ENDPOINT_URL"], number)
    assert len(texts) == 2  # the code, then the enrolment: once
    assert texts[1].startswith('SmartCourse: You are enrolled in Tides & "moons". Your enrolment is confirmed.')
    assert len(texts[1]) <= 160
    rows = sms_rows(db, me["id"])
    assert [(r["type"], r["status"]) for r in rows] == [("phone_verification", "sent"),
                                                        ("enrollment_confirmed", "sent")]
    # A number removed after the text was queued gets nothing
    other, other_me = api.user("student")
    other_number = verified_phone(api, db, fn, in_process_env, other, other_me["id"])
    assert api.call("PUT", "/me/notification-preferences", other, on).status == 200
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", other).body
    row = db.execute("SELECT payload FROM lms.outbox WHERE aggregate_id = %s AND event_type = "
                     "'smartcourse.enrollment.created.v1'", (enrolled["id"],)).fetchone()
    consume(fn, in_process_env, EventEnvelope.model_validate(row["payload"]))
    assert api.call("DELETE", "/me/phone", other).status == 204
    schedule(fn)
    assert sms_rows(db, other_me["id"])[-1]["status"] == "cancelled"
    assert len(texts_to(in_process_env["AWS_ENDPOINT_URL"], other_number)) == 1  # the code only
    # Without a verified number the preference stays, shown as not usable
    prefs_after = api.call("GET", "/me/notification-preferences", other).body
    assert prefs_after["phone_verified"] is False
    assert {t["type"]: t["channels"] for t in prefs_after["types"]}["enrollment_confirmed"]["sms"]["enabled"]


def test_quiet_hours_defer_a_text_until_they_end_and_never_drop_it(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    number = verified_phone(api, db, fn, in_process_env, learner, me["id"])
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=22)).strftime("%H:%M")
    assert api.call("PUT", "/me/notification-preferences", learner, {
        "timezone": "Asia/Tokyo", "quiet_hours": {"start": start, "end": end},
        "types": [{"type": "enrollment_confirmed", "channels": {"sms": {"cadence": "immediately"},
                                                                "email": {"cadence": "off"}}}]}).status == 200
    course = api.published_course(teacher, lessons=1)["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner).body
    row = db.execute("SELECT payload FROM lms.outbox WHERE aggregate_id = %s AND event_type = "
                     "'smartcourse.enrollment.created.v1'", (enrolled["id"],)).fetchone()
    consume(fn, in_process_env, EventEnvelope.model_validate(row["payload"]))
    queued = sms_rows(db, me["id"])[-1]
    assert queued["status"] == "pending" and queued["due_at"] > datetime.now(UTC) + timedelta(hours=21)
    assert queued["due_at"].astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == end
    schedule(fn)
    assert sms_rows(db, me["id"])[-1]["status"] == "pending"  # still quiet: kept, not sent, not dropped
    assert len(texts_to(in_process_env["AWS_ENDPOINT_URL"], number)) == 1  # the code only
    d = fn.deps()
    out = service.deliver_due_sms(d.database, d.texter, d.links.key, now=queued["due_at"] + timedelta(seconds=1))
    assert out["sms_sent"] >= 1 and sms_rows(db, me["id"])[-1]["status"] == "sent"
    texts = texts_to(in_process_env["AWS_ENDPOINT_URL"], number)
    assert len(texts) == 2 and texts[1].startswith("SmartCourse: You are enrolled in")


class FlakySns:
    def __init__(self, *failures: SendFailed) -> None:
        self.failures = list(failures)
        self.sent: list[OutgoingSms] = []

    def send(self, sms: OutgoingSms) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(sms)
        return "s-1"


def test_sns_failures_are_retried_when_transient_and_recorded_when_not(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    database = Database(in_process_env["DATABASE_URL"])
    key = in_process_env["JWT_SECRET"].encode()
    try:
        for failure, settled in ((SendFailed("SNS Throttling", transient=True), "sent"),
                                 (SendFailed("SNS InvalidParameter: opted out", transient=False), "failed")):
            learner, me, event = enrol(api, db)
            number = verified_phone(api, db, fn, in_process_env, learner, me["id"])
            assert api.call("PUT", "/me/notification-preferences", learner, {"types": [
                {"type": "enrollment_confirmed", "channels": {"sms": {"cadence": "immediately"}}}]}).status == 200
            consume(fn, in_process_env, event)
            flaky = FlakySns(failure)
            now = datetime.now(UTC)
            service.deliver_due_sms(database, flaky, key, now=now)
            row = sms_rows(db, me["id"])[-1]
            code = failure.args[0].split()[1].rstrip(":")
            assert code in row["last_error"]
            if failure.transient:
                assert (row["status"], row["attempts"]) == ("pending", 1) and row["due_at"] > now
                service.deliver_due_sms(database, flaky, key, now=now + timedelta(minutes=5))
                row = sms_rows(db, me["id"])[-1]
                assert (row["status"], row["attempts"]) == ("sent", 2)
                assert [s.to for s in flaky.sent] == [number]
            assert row["status"] == settled
    finally:
        database.close()
