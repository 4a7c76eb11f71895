"""Notifications on the real stack: events the LMS API really wrote (read from its outbox) go
through the real NotificationsFunction handler (an MSK batch, as the mapping delivers it); the
inbox and preferences are read and changed through the API in-process."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from smartcourse.events import EventEnvelope, new_event
from testkit.msk import msk_event
from tests.integration.lms.conftest import Api
from tests.integration.notifications.conftest import Ctx

pytestmark = pytest.mark.integration


@pytest.fixture
def consume(fn: Any, in_process_env: dict[str, str]) -> Any:
    """Deliver envelopes to the real handler as one MSK batch on their topic; returns its answer."""
    offsets = iter(range(10**6))

    def deliver(*envelopes: EventEnvelope) -> dict[str, Any]:
        topic = f"{in_process_env['TOPIC_PREFIX']}.{envelopes[0].aggregate_type}"
        result: dict[str, Any] = fn.handler(msk_event(list(envelopes), topic, first_offset=next(offsets)), Ctx())
        return result
    return deliver


def events(conn: psycopg.Connection[Any], name: str, **where: Any) -> list[EventEnvelope]:
    """The events the API wrote (outbox, commit order) named `name` whose data match `where`."""
    rows = conn.execute("SELECT payload FROM lms.outbox WHERE event_type = %s ORDER BY seq",
                        (f"smartcourse.{name}.v1",)).fetchall()
    return [EventEnvelope.model_validate(r["payload"]) for r in rows
            if all(r["payload"]["data"].get(k) == v for k, v in where.items())]


def inbox(api: Api, token: str, query: str = "") -> dict[str, Any]:
    r = api.call("GET", f"/me/notifications{query}", token)
    assert r.status == 200, r
    return dict(r.body)


def test_an_enrolment_notifies_the_learner_once_however_often_its_event_comes(
        api: Api, db: psycopg.Connection[Any], consume: Any) -> None:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    course = api.published_course(teacher, lessons=1)["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner)
    assert enrolled.status == 201, enrolled
    [event] = events(db, "enrollment.created", enrollment_id=enrolled.body["id"])

    assert consume(event) == {"batchItemFailures": []}
    assert consume(event, event) == {"batchItemFailures": []}  # redelivered, and twice in one batch
    page = inbox(api, learner)
    assert page["unread_count"] == 1 and len(page["items"]) == 1
    item = page["items"][0]
    assert item["type"] == "enrollment_confirmed" and course["title"] in item["title"]
    assert item["link"] == f"#/courses/{course['id']}" and item["read_at"] is None
    assert inbox(api, teacher)["items"] == []  # one enrolment is no milestone
    assert db.execute("SELECT count(*) AS n FROM notify.processed_events WHERE event_id = %s",
                      (event.id,)).fetchone() == {"n": 1}
    assert me["id"]


def test_the_instructor_hears_when_the_course_is_full(api: Api, db: psycopg.Connection[Any], consume: Any) -> None:
    teacher, _ = api.user("instructor")
    course = api.published_course(teacher, lessons=1, capacity=2)["course"]
    for _ in range(2):
        learner, _ = api.user("student")
        assert api.call("POST", f"/courses/{course['id']}/enrollments", learner).status == 201
    batch = events(db, "enrollment.created", course_id=course["id"])
    assert consume(*batch) == {"batchItemFailures": []}
    assert consume(*batch) == {"batchItemFailures": []}
    items = inbox(api, teacher)["items"]
    assert [i["type"] for i in items] == ["enrollment_milestone"] and "full (2 places)" in items[0]["title"]
    assert items[0]["link"] == f"#/teach/courses/{course['id']}"


def test_new_content_reaches_enrolled_learners_merged_within_the_hold(
        api: Api, db: psycopg.Connection[Any], consume: Any) -> None:
    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    cid, mid, (first, _) = made["course"]["id"], made["module_id"], made["lesson_ids"]
    learner, _ = api.user("student")
    assert api.call("POST", f"/courses/{cid}/enrollments", learner).status == 201
    # version 2 edits lesson 1; version 3, minutes later, adds a lesson
    assert api.call("PATCH", f"/courses/{cid}/modules/{mid}/lessons/{first}", teacher,
                    {"body": "A better explanation."}).status == 200
    assert api.call("POST", f"/courses/{cid}/publish", teacher).status == 201
    [v2] = events(db, "course.published", course_id=cid, version=2)
    assert consume(v2) == {"batchItemFailures": []}
    [item] = inbox(api, learner, "?unread=true")["items"]
    assert item["type"] == "course_updated" and item["body"] == "New or changed: Lesson 1."
    assert api.call("POST", f"/me/notifications/{item['id']}/read", learner).status == 200
    assert api.call("POST", f"/courses/{cid}/modules/{mid}/lessons", teacher,
                    {"title": "Lesson 3", "kind": "text", "body": "New."}).status == 201
    assert api.call("POST", f"/courses/{cid}/publish", teacher).status == 201
    [v3] = events(db, "course.published", course_id=cid, version=3)
    assert consume(v3) == {"batchItemFailures": []}
    page = inbox(api, learner)
    # one notification per course and hour: the later version's text, unread again
    if len(page["items"]) == 1:
        assert page["items"][0]["body"] == "New or changed: Lesson 3." and page["unread_count"] == 1
        assert "version 3" in page["items"][0]["title"]
    else:  # the two publishes straddled the top of an hour: two windows, two notifications
        assert [i["body"] for i in page["items"]] == ["New or changed: Lesson 3.", "New or changed: Lesson 1."]
    assert inbox(api, teacher)["items"] == []  # the instructor is not enrolled


def test_certificates_issued_and_revoked_reach_their_learner(
        api: Api, db: psycopg.Connection[Any], consume: Any) -> None:
    teacher, _ = api.user("instructor")
    learner, me = api.user("student")
    course = api.published_course(teacher, lessons=1)["course"]
    cert, code = uuid.uuid4(), "TEST0-" + secrets.token_hex(2)
    common = {"certificate_id": str(cert), "code": code, "enrollment_id": str(uuid.uuid4()), "user_id": me["id"],
              "course_id": course["id"]}
    issued = new_event("certificate.issued", cert, {**common, "course_version": 1, "s3_key": "k",
                                                    "verify_url": f"https://verify.example/certificates/{code}",
                                                    "issued_at": datetime.now(UTC).isoformat()},
                       correlation_id="t", aggregate_type="certificate")
    revoked = new_event("certificate.revoked", cert, {**common, "reason": "issued by mistake",
                                                      "revoked_at": datetime.now(UTC).isoformat(),
                                                      "revoked_by": str(uuid.uuid4())},
                        correlation_id="t", aggregate_type="certificate")
    assert consume(issued, revoked) == {"batchItemFailures": []}
    items = {i["type"]: i for i in inbox(api, learner)["items"]}
    assert items["certificate_issued"]["link"] == f"https://verify.example/certificates/{code}"
    assert items["certificate_revoked"]["body"] == "Reason: issued by mistake"


def test_an_event_about_an_unknown_course_fails_and_is_counted(
        api: Api, db: psycopg.Connection[Any], consume: Any) -> None:
    ghost = new_event("enrollment.created", uuid.uuid4(),
                      {"enrollment_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "course_id": str(uuid.uuid4()),
                       "course_version": 1, "enrolled_at": datetime.now(UTC).isoformat()},
                      correlation_id="t", aggregate_type="enrollment")
    out = consume(ghost)
    assert len(out["batchItemFailures"]) == 1
    row = db.execute("SELECT attempts, error_type FROM notify.consumer_failures WHERE event_id = %s",
                     (ghost.id,)).fetchone()
    assert row == {"attempts": 1, "error_type": "LookupError"}


def test_the_inbox_pages_marks_read_and_keeps_to_its_owner(api: Api, db: psycopg.Connection[Any]) -> None:
    learner, me = api.user("student")
    other, _ = api.user("student")
    for i in range(5):  # as the consumer stores them
        db.execute("INSERT INTO notify.notifications (id, user_id, type, dedupe_key, title, body, event_id) "
                   "VALUES (%s, %s, 'enrollment_confirmed', %s, %s, 'b', %s)",
                   (uuid.uuid4(), me["id"], f"k{i}", f"N{i}", uuid.uuid4()))
    first = inbox(api, learner, "?limit=2")
    assert len(first["items"]) == 2 and first["unread_count"] == 5 and first["next_cursor"]
    rest = inbox(api, learner, f"?limit=10&cursor={first['next_cursor']}")
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    assert {i["id"] for i in first["items"]}.isdisjoint(i["id"] for i in rest["items"])
    target = first["items"][0]["id"]
    assert api.call("POST", f"/me/notifications/{target}/read", other).status == 404  # not theirs
    read = api.call("POST", f"/me/notifications/{target}/read", learner)
    assert read.status == 200 and read.body["read_at"]
    again = api.call("POST", f"/me/notifications/{target}/read", learner)
    assert again.body["read_at"] == read.body["read_at"]  # the first read time stays
    assert inbox(api, learner, "?unread=true")["unread_count"] == 4
    assert len(inbox(api, learner, "?unread=true")["items"]) == 4
    done = api.call("POST", "/me/notifications/read-all", learner)
    assert done.status == 200 and done.body == {"updated": 4, "unread_count": 0}
    assert api.call("POST", f"/me/notifications/{uuid.uuid4()}/read", learner).status == 404
    assert api.call("GET", "/me/notifications?unread=maybe", learner).status == 400


def test_preferences_default_change_persist_and_refuse_what_cannot_be(api: Api) -> None:
    learner, _ = api.user("student")
    prefs = api.call("GET", "/me/notification-preferences", learner).body
    assert prefs["timezone"] == "UTC" and prefs["quiet_hours"] is None
    by_type = {t["type"]: t["channels"] for t in prefs["types"]}
    assert by_type["course_updated"]["email"] == {"enabled": True, "cadence": "daily", "locked": False}
    assert by_type["certificate_revoked"]["in_app"]["locked"] is True
    assert by_type["course_updated"]["sms"] is None  # not offered
    assert by_type["enrollment_confirmed"]["sms"] == {"enabled": False, "cadence": "off", "locked": False}
    assert prefs["phone_verified"] is False

    changed = api.call("PUT", "/me/notification-preferences", learner, {
        "timezone": "Europe/Paris", "quiet_hours": {"start": "22:00", "end": "07:00"},
        "types": [{"type": "enrollment_confirmed", "channels": {"email": {"cadence": "off"}}}]})
    assert changed.status == 200, changed
    again = api.call("GET", "/me/notification-preferences", learner).body
    assert again == changed.body and again["timezone"] == "Europe/Paris"
    assert again["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert {t["type"]: t["channels"] for t in again["types"]}["enrollment_confirmed"]["email"]["cadence"] == "off"
    off = api.call("PUT", "/me/notification-preferences", learner, {"quiet_hours": None})
    assert off.status == 200 and off.body["quiet_hours"] is None and off.body["timezone"] == "Europe/Paris"

    def problem(body: dict[str, Any]) -> tuple[int, list[str]]:
        r = api.call("PUT", "/me/notification-preferences", learner, body)
        return r.status, [d["field"] for d in r.body["error"].get("details", [])]

    assert problem({"timezone": "Mars/Olympus"}) == (400, ["timezone"])
    assert problem({"types": [{"type": "birthday", "channels": {"email": {"cadence": "off"}}}]})[0] == 400
    assert problem({"types": [{"type": "course_updated", "channels": {"email": {"cadence": "hourly"}}}]}) \
        == (400, ["types.0.channels.email.cadence"])
    assert problem({}) == (400, ["body"])
    assert problem({"types": [{"type": "certificate_revoked", "channels": {"in_app": {"cadence": "off"}}}]}) \
        == (422, ["types.0.channels.in_app.cadence"])
    assert problem({"types": [{"type": "course_updated", "channels": {"sms": {"cadence": "daily"}}}]}) \
        == (422, ["types.0.channels.sms"])
    # SMS: at once or not at all, and only to a verified number (docs/notifications.md)
    assert problem({"types": [{"type": "enrollment_confirmed", "channels": {"sms": {"cadence": "daily"}}}]}) \
        == (422, ["types.0.channels.sms.cadence"])
    assert problem({"types": [{"type": "enrollment_confirmed", "channels": {"sms": {"cadence": "immediately"}}}]}) \
        == (422, ["types.0.channels.sms.cadence"])
    assert problem({"quiet_hours": {"start": "08:00", "end": "08:00"}}) == (422, ["quiet_hours.end"])


def test_an_upload_the_ai_side_failed_is_notified_to_the_instructor_once(
        api: Api, db: psycopg.Connection[Any], fn: Any) -> None:
    teacher, _ = api.user("instructor")
    course = api.call("POST", "/courses", teacher, {"title": "Compilers"}).body
    asset = api.call("POST", f"/courses/{course['id']}/assets", teacher,
                     {"filename": "slides.pdf", "content_type": "application/pdf", "size": 100}).body["asset"]
    # As IngestFunction leaves it when the file cannot be read
    doc = uuid.uuid4()
    db.execute("INSERT INTO ai.documents (id, asset_id, course_id, s3_key, status, error_code, error) "
               "VALUES (%s, %s, %s, 'k', 'failed', 'unreadable_pdf', 'the PDF is encrypted')",
               (doc, asset["id"], course["id"]))
    for _ in range(2):  # the schedule runs again: nothing new
        out = fn.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Ctx())
        assert "failed_uploads" in out
    [item] = [i for i in inbox(api, teacher)["items"] if i["type"] == "asset_failed"]
    assert item["title"] == "slides.pdf could not be processed"
    assert "the PDF is encrypted" in item["body"] and item["link"] == f"#/teach/courses/{course['id']}"
    assert db.execute("SELECT count(*) AS n FROM notify.notifications WHERE dedupe_key = %s",
                      (f"document:{doc}",)).fetchone() == {"n": 1}
    emails = db.execute("SELECT count(*) AS n FROM notify.emails e JOIN notify.notifications n "
                        "ON n.id = e.notification_id WHERE n.dedupe_key = %s", (f"document:{doc}",)).fetchone()
    assert emails == {"n": 1}
