"""DELETE /me on the real stack: the LMS anonymises its rows and writes `user.deleted` in the same
transaction; NotificationsFunction and IngestFunction (the AI side's consumer) erase theirs from
that event; afterwards a search of every row of every schema (lms, ai, notify) finds neither the
email, nor the name, nor a question the learner asked, nor the phone number; certificates answer as the holder chose."""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

import boto3
import psycopg
import pytest

from smartcourse.certificates.domain import new_code
from smartcourse.events import EventEnvelope
from testkit.msk import msk_event
from tests.conftest import load_function_module
from tests.integration.lms.conftest import PASSWORD, Api
from tests.integration.notifications.conftest import Ctx

pytestmark = pytest.mark.integration


def _everywhere(db: psycopg.Connection[Any], needle: str) -> list[str]:
    """Every table of lms, ai and notify with a row whose text contains `needle` (case-insensitive)."""
    tables = [f"{r['table_schema']}.{r['table_name']}" for r in db.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema IN ('lms', 'ai', 'notify')").fetchall()]
    found = []
    for t in tables:
        row = db.execute(f"SELECT count(*) AS n FROM {t} x WHERE x::text ILIKE %s",
                         (f"%{needle}%",)).fetchone()
        if row and row["n"]:
            found.append(t)
    return found


def _seed(api: Api, db: psycopg.Connection[Any], env: dict[str, str]) -> dict[str, Any]:
    """A learner with data in every service: a session, an enrolment, a certificate (row and PDF),
    an assistant conversation, an inbox item, preferences and an email."""
    teacher, _ = api.user("instructor")
    course = api.published_course(teacher, lessons=1, title="Deletion course")
    name, question = f"Ada Erasable {secrets.token_hex(3)}", f"What is a tide {secrets.token_hex(3)}?"
    email = f"erase-{secrets.token_hex(5)}@example.com"
    registered = api.call("POST", "/auth/register", json_body={"email": email, "password": PASSWORD, "name": name})
    assert registered.status == 201, registered
    login = api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).body
    token = login["access_token"]
    uid = uuid.UUID(api.call("GET", "/me", token).body["user"]["id"])
    course_id = course["course"]["id"]
    enrolment = api.call("POST", f"/courses/{course_id}/enrollments", token).body
    conv = uuid.uuid4()
    db.execute("INSERT INTO ai.conversations (id, course_id, user_id, course_version, title) "
               "VALUES (%s, %s, %s, 1, %s)", (conv, course_id, uid, question))
    answer = uuid.uuid4()
    db.execute("INSERT INTO ai.messages (id, conversation_id, seq, role, content, refused, course_version) VALUES "
               "(%s, %s, 1, 'user', %s, false, 1), (%s, %s, 2, 'assistant', 'The Moon.', false, 1)",
               (uuid.uuid4(), conv, question, answer, conv))
    db.execute("INSERT INTO ai.message_feedback (message_id, user_id, helpful) VALUES (%s, %s, true)", (answer, uid))
    note = uuid.uuid4()
    db.execute("INSERT INTO notify.notifications (id, user_id, type, dedupe_key, title, body, event_id) "
               "VALUES (%s, %s, 'enrollment_confirmed', %s, %s, 'Welcome', %s)",
               (note, uid, f"erase:{note}", f"Hello {name}", uuid.uuid4()))
    db.execute("INSERT INTO notify.user_settings (user_id, timezone) VALUES (%s, 'Europe/Paris')", (uid,))
    db.execute("INSERT INTO notify.emails (id, notification_id, user_id, type, to_address, subject, text_body, "
               "html_body, unsubscribe_url) VALUES (%s, %s, %s, 'enrollment_confirmed', %s, 'Hi', %s, 'h', 'u')",
               (uuid.uuid4(), note, uid, email, f"Dear {name}"))
    phone = f"+1555{secrets.randbelow(10**7):07d}"  # a number, with its code on the way, and a text sent to it
    assert api.call("PUT", "/me/phone", token, {"phone": phone}).status == 200
    db.execute("INSERT INTO notify.sms (id, notification_id, user_id, type, to_number, body, status) "
               "VALUES (%s, %s, %s, 'enrollment_confirmed', %s, %s, 'sent')",
               (uuid.uuid4(), note, uid, phone, f"SmartCourse: Hello {name}"))
    code = new_code()
    key = f"certificates/{code}.pdf"
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1").put_object(
        Bucket=env["CERTIFICATES_BUCKET"], Key=key, Body=f"%PDF {name}".encode())
    snapshot = {"learner_name": name, "course_title": "Deletion course", "instructor_name": "Teacher",
                "completed_on": date.today().isoformat(), "course_version": 1, "code": code,
                "verify_url": f"https://example.com/certificates/{code}"}
    db.execute("INSERT INTO lms.certificates (id, enrollment_id, user_id, course_id, code, snapshot, s3_key) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s)",
               (uuid.uuid4(), enrolment["id"], uid, course_id, code, psycopg.types.json.Jsonb(snapshot), key))
    return {"email": email, "name": name, "question": question, "token": token, "uid": uid, "code": code,
            "key": key, "refresh": login["refresh_token"], "phone": phone}


def _consume(env: dict[str, str], db: psycopg.Connection[Any], uid: uuid.UUID, fn: Any) -> None:
    """The event the LMS wrote, handled by NotificationsFunction and IngestFunction (the AI side)."""
    row = db.execute("SELECT payload FROM lms.outbox WHERE event_type = 'smartcourse.user.deleted.v1' "
                     "AND aggregate_id = %s", (str(uid),)).fetchone()
    assert row is not None
    event = EventEnvelope.model_validate(row["payload"])
    assert set(event.data) == {"user_id", "deleted_at", "certificates"}
    batch = msk_event([event], f"{env['TOPIC_PREFIX']}.user", first_offset=uuid.uuid4().int % 10**9)
    assert fn.handler(batch, Ctx()) == {"batchItemFailures": []}
    ingest = load_function_module("ingest")
    assert ingest.handler(batch, Ctx()) == {"batchItemFailures": []}
    assert ingest.handler(batch, Ctx()) == {"batchItemFailures": []}  # redelivered: nothing more


def test_deleting_an_account_erases_the_person_everywhere_and_withdraws_certificates_when_asked(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    who = _seed(api, db, in_process_env)
    for needle in (who["email"], who["name"], who["question"], who["phone"]):
        assert _everywhere(db, needle), needle  # the seed is really there
    # A wrong password changes nothing
    wrong = api.call("DELETE", "/me", who["token"], {"password": "not-the-password", "certificates": "withdraw"})
    assert wrong.status == 422 and wrong.body["error"]["details"][0]["field"] == "password"
    assert api.call("GET", "/me", who["token"]).status == 200
    done = api.call("DELETE", "/me", who["token"], {"password": PASSWORD, "certificates": "withdraw"})
    assert done.status == 204, done
    _consume(in_process_env, db, who["uid"], fn)
    # Nothing of the person is left in any schema
    for needle in (who["email"], who["name"], who["question"], who["phone"]):
        assert _everywhere(db, needle) == [], needle
    # Signed out everywhere, cannot sign in again (that attempt is a failed sign-in of the address
    # typed, kept 15 minutes like any other: the sign-in limits)
    assert api.call("GET", "/me", who["token"]).status == 401
    assert api.call("POST", "/auth/refresh", json_body={"refresh_token": who["refresh"]}).status == 401
    assert api.call("POST", "/auth/login", json_body={"email": who["email"], "password": PASSWORD}).status == 401
    # The LMS keeps the anonymous rows course statistics need
    enrolments = db.execute("SELECT count(*) AS n FROM lms.enrollments WHERE user_id = %s", (who["uid"],)).fetchone()
    assert enrolments is not None and enrolments["n"] == 1
    # The certificate answers "withdrawn by the holder" and its PDF is gone
    check = api.call("GET", f"/certificates/{who['code']}")
    assert check.status == 200 and check.body["status"] == "withdrawn"
    assert check.body["message"] == "withdrawn by the holder" and "learner_name" not in check.body
    s3 = boto3.client("s3", endpoint_url=in_process_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=in_process_env["CERTIFICATES_BUCKET"], Prefix=who["key"])
    assert listed.get("KeyCount", 0) == 0
    audit = db.execute("SELECT action, details FROM lms.audit_log WHERE subject_id = %s", (who["uid"],)).fetchall()
    assert [(a["action"], a["details"]) for a in audit] == [("account_deleted", {"certificates": "withdraw"})]


def test_a_learner_who_keeps_their_certificates_keeps_them_verifiable_with_their_name(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    who = _seed(api, db, in_process_env)
    assert api.call("DELETE", "/me", who["token"], {"password": PASSWORD, "certificates": "keep"}).status == 204
    _consume(in_process_env, db, who["uid"], fn)
    check = api.call("GET", f"/certificates/{who['code']}")
    assert check.body["status"] == "valid" and check.body["learner_name"] == who["name"]
    # The name stays only there, as chosen; the email and the questions are gone everywhere
    assert _everywhere(db, who["name"]) == ["lms.certificates"]
    assert _everywhere(db, who["email"]) == [] and _everywhere(db, who["question"]) == []
    assert _everywhere(db, who["phone"]) == []
