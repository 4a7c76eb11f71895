"""Certificates in analytics and the xAPI export: the LMS API in-process writes the events, the real
AnalyticsFunction handler consumes them as MSK batches (certificate events made as
CertificatesFunction writes them), and GET /courses/{id}/analytics/xapi serves them as xAPI 1.0.3
statements: required fields, pseudonymous actors, deterministic ids, stable pages, who may read."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from smartcourse.analytics import domain, xapi
from smartcourse.analytics import schemas as s
from smartcourse.events import EventEnvelope, new_event
from testkit.msk import msk_event
from tests.integration.analytics.conftest import Ctx, http
from tests.integration.analytics.test_heartbeat_and_erasure import consume_outbox
from tests.integration.lms.conftest import Api

pytestmark = pytest.mark.integration

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def certificate_events(fn: Any, env: dict[str, str], events: list[EventEnvelope]) -> None:
    out = fn.handler(msk_event(events, f"{env['TOPIC_PREFIX']}.certificate",
                               first_offset=uuid.uuid4().int % 10**9), Ctx())
    assert out == {"batchItemFailures": []}, out


def issued(cert_id: uuid.UUID, enrolment: dict[str, Any], user_id: str, at: datetime) -> EventEnvelope:
    return new_event("certificate.issued", cert_id, {
        "certificate_id": str(cert_id), "code": "SC-TEST", "enrollment_id": enrolment["id"], "user_id": user_id,
        "course_id": enrolment["course_id"], "course_version": 1, "s3_key": "k", "verify_url": "https://x/v",
        "issued_at": at.isoformat()}, aggregate_type="certificate")


def assert_statement(st: dict[str, Any], home_page: str) -> None:
    """The fields xAPI 1.0.3 requires (id, actor, verb, object; timestamp as we always send it)."""
    assert UUID_RE.match(st["id"]), st
    assert st["version"] == "1.0.3"
    assert st["actor"]["objectType"] == "Agent" and set(st["actor"]) == {"objectType", "account"}
    assert st["actor"]["account"]["homePage"] == home_page and UUID_RE.match(st["actor"]["account"]["name"])
    assert st["verb"]["id"].startswith(("http://adlnet.gov/expapi/verbs/", "https://w3id.org/xapi/"))
    assert st["verb"]["display"]["en-US"]
    assert st["object"]["objectType"] in {"Activity", "StatementRef"} and st["object"]["id"]
    assert datetime.fromisoformat(st["timestamp"]).tzinfo is not None


def test_certificates_and_the_xapi_export(api: Api, db: psycopg.Connection[Any], fn: Any,
                                          in_process_env: dict[str, str], database_url: str,
                                          api_module: Any) -> None:
    from tests.integration.lms.conftest import admin_token

    teacher, _ = api.user("instructor")
    other_teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    cid, lessons = made["course"]["id"], made["lesson_ids"]
    ann, ann_me = api.user("student", "Ann Finisher")
    bob, bob_me = api.user("student", "Bob Starter")
    ann_enrolment = api.call("POST", f"/courses/{cid}/enrollments", ann).body
    bob_enrolment = api.call("POST", f"/courses/{cid}/enrollments", bob).body
    for lesson in lessons:
        assert api.call("PUT", f"/enrollments/{ann_enrolment['id']}/lessons/{lesson}/progress", ann,
                        {"status": "completed"}).status == 200
    assert api.call("PUT", f"/enrollments/{bob_enrolment['id']}/lessons/{lessons[0]}/progress", bob,
                    {"status": "completed"}).status == 200
    events = consume_outbox(fn, db, in_process_env, course_id=cid)
    assert "course.completed" in {e.name for e in events}

    cert, revoked_cert = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    ann_issued = issued(cert, ann_enrolment, ann_me["id"], at)
    bob_issued = issued(revoked_cert, bob_enrolment, bob_me["id"], at + timedelta(seconds=1))
    revoke = new_event("certificate.revoked", revoked_cert, {
        "certificate_id": str(revoked_cert), "code": "SC-TEST", "enrollment_id": bob_enrolment["id"],
        "user_id": bob_me["id"], "course_id": cid, "reason": "test",
        "revoked_at": (at + timedelta(seconds=2)).isoformat(),
        "revoked_by": str(uuid.uuid4())}, aggregate_type="certificate")
    certificate_events(fn, in_process_env, [ann_issued, bob_issued, revoke])
    certificate_events(fn, in_process_env, [ann_issued, bob_issued, revoke])  # redelivered: nothing more

    key = in_process_env["ANALYTICS_PSEUDONYM_KEY"].encode()
    ann_id, bob_id = (domain.pseudonym(key, uuid.UUID(u["id"])) for u in (ann_me, bob_me))
    rows = db.execute("SELECT certificate_id, learner, revoked_at IS NOT NULL AS revoked FROM analytics.certificates "
                      "WHERE course_id = %s ORDER BY issued_at", (cid,)).fetchall()
    assert rows == [{"certificate_id": cert, "learner": ann_id, "revoked": False},
                    {"certificate_id": revoked_cert, "learner": bob_id, "revoked": True}]

    status, body = http(fn, "GET", s.XAPI, teacher, course_id=cid)
    assert status == 200, body
    statements = body["statements"]
    assert body["next_cursor"] is None
    from smartcourse.analytics.settings import AnalyticsSettings
    from smartcourse.settings import load_settings

    settings = load_settings(AnalyticsSettings)
    home, base = settings.xapi_home_page, settings.xapi_activity_base.rstrip("/")
    for st in statements:
        assert_statement(st, home)
    by_verb: dict[str, list[dict[str, Any]]] = {}
    for st in statements:
        by_verb.setdefault(st["verb"]["display"]["en-US"], []).append(st)
    assert {k: len(v) for k, v in by_verb.items()} == {"registered": 2, "progressed": 3, "completed": 1,
                                                       "earned": 2, "voided": 1}
    # pseudonymous actors only: no name, email or user id anywhere
    text = str(statements)
    for secret in (ann_me["id"], bob_me["id"], ann_me["email"], "Ann Finisher", "Bob Starter"):
        assert secret not in text
    assert {st["actor"]["account"]["name"] for st in statements} == {str(ann_id), str(bob_id)}
    # deterministic ids: the UUID v5 of the event id
    assert {st["id"] for st in by_verb["earned"]} == {str(xapi.statement_id(ann_issued.id)),
                                                      str(xapi.statement_id(bob_issued.id))}
    [voided] = by_verb["voided"]
    assert voided["object"] == {"objectType": "StatementRef", "id": str(xapi.statement_id(bob_issued.id))}
    progress = sorted(st["result"]["extensions"][xapi.PROGRESS_EXTENSION] for st in by_verb["progressed"])
    assert progress == [50, 50, 100]
    lesson_iris = {st["object"]["id"] for st in by_verb["progressed"]}
    assert lesson_iris == {f"{base}/courses/{cid}/lessons/{x}" for x in lessons}
    assert by_verb["completed"][0]["object"]["id"] == f"{base}/courses/{cid}"
    assert [(st["timestamp"], st["id"]) for st in statements] == sorted((st["timestamp"], st["id"])
                                                                        for st in statements)

    # a replay of every event, and another export, give the same statements
    consume_outbox(fn, db, in_process_env, course_id=cid)
    assert http(fn, "GET", s.XAPI, teacher, course_id=cid)[1]["statements"] == statements

    # pages of 2: the same statements, in order, each once
    paged: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, page = http(fn, "GET", s.XAPI, teacher, query, course_id=cid)
        assert status == 200 and len(page["statements"]) <= 2
        paged += page["statements"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == statements

    # since/until: a window of time
    since = statements[3]["timestamp"]
    _, windowed = http(fn, "GET", s.XAPI, teacher, {"since": since}, course_id=cid)
    assert windowed["statements"] == [st for st in statements if st["timestamp"] >= since]
    _, until = http(fn, "GET", s.XAPI, teacher, {"until": since}, course_id=cid)
    assert until["statements"] == [st for st in statements if st["timestamp"] < since]

    # who may read
    admin, _ = admin_token(database_url, api_module)
    assert http(fn, "GET", s.XAPI, admin, course_id=cid)[1]["statements"] == statements
    for token, expected in ((ann, 403), (other_teacher, 403), (None, 401)):
        status, err = http(fn, "GET", s.XAPI, token, course_id=cid)
        assert status == expected and err["error"]["message"], (status, err)
    assert http(fn, "GET", s.XAPI, teacher, course_id=str(uuid.uuid4()))[0] == 404
    for bad in ({"cursor": "nope"}, {"since": "yesterday"}, {"limit": "0"}):
        assert http(fn, "GET", s.XAPI, teacher, bad, course_id=cid)[0] == 400, bad
    assert http(fn, "GET", s.XAPI, teacher, {"since": since, "until": since}, course_id=cid)[1] == {
        "statements": [], "next_cursor": None}  # an empty window


def test_erasure_rekeys_the_statements_and_certificates(api: Api, db: psycopg.Connection[Any], fn: Any,
                                                         in_process_env: dict[str, str]) -> None:
    from tests.integration.lms.conftest import PASSWORD

    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=1)
    cid = made["course"]["id"]
    learner, me = api.user("student", "Erin Erased")
    enrolment = api.call("POST", f"/courses/{cid}/enrollments", learner).body
    consume_outbox(fn, db, in_process_env, course_id=cid)
    certificate_events(fn, in_process_env, [issued(uuid.uuid4(), enrolment, me["id"], datetime.now(UTC))])
    learner_id = domain.pseudonym(in_process_env["ANALYTICS_PSEUDONYM_KEY"].encode(), uuid.UUID(me["id"]))
    assert api.call("DELETE", "/me", learner, {"password": PASSWORD, "certificates": "keep"}).status == 204
    consume_outbox(fn, db, in_process_env, user_id=me["id"])
    for table in ("statements", "certificates"):
        assert db.execute(f"SELECT count(*) AS n FROM analytics.{table} WHERE learner = %s",
                          (learner_id,)).fetchone() == {"n": 0}, table
    _, body = http(fn, "GET", s.XAPI, teacher, course_id=cid)
    assert len(body["statements"]) == 2 and str(learner_id) not in str(body)
