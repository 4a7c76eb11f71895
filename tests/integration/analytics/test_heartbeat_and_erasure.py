"""Time on task through the heartbeat route (analytics.* only, one minute per learner and minute),
the learner's analytics in GET /me/export, and `user.deleted`: the learner's rows re-keyed to an id
naming nobody, the course figures unchanged, later events for the person ignored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from smartcourse.analytics import domain
from smartcourse.analytics import schemas as s
from smartcourse.events import EventEnvelope, new_event
from testkit.msk import msk_event
from tests.integration.analytics.conftest import Ctx, http
from tests.integration.lms.conftest import PASSWORD, Api

pytestmark = pytest.mark.integration


def consume_outbox(fn: Any, db: psycopg.Connection[Any], env: dict[str, str], **where: str) -> list[EventEnvelope]:
    """The outbox events whose data match `where`, delivered to the handler (one batch per topic)."""
    rows = db.execute("SELECT payload FROM lms.outbox ORDER BY seq").fetchall()
    events = [EventEnvelope.model_validate(r["payload"]) for r in rows
              if all(r["payload"]["data"].get(k) == v for k, v in where.items())]
    for topic in ("course", "enrollment", "user"):
        batch = [e for e in events if e.aggregate_type == topic]
        if batch:
            out = fn.handler(msk_event(batch, f"{env['TOPIC_PREFIX']}.{topic}",
                                       first_offset=uuid.uuid4().int % 10**9), Ctx())
            assert out == {"batchItemFailures": []}, out
    return events


def test_the_heartbeat_counts_an_enrolled_learner_s_minute_once(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    other = api.published_course(teacher, lessons=1)
    cid, (lesson, _) = made["course"]["id"], made["lesson_ids"]
    learner, me = api.user("student")
    stranger, _ = api.user("student")
    assert api.call("POST", f"/courses/{cid}/enrollments", learner).status == 201
    consume_outbox(fn, db, in_process_env, course_id=cid)
    consume_outbox(fn, db, in_process_env, course_id=other["course"]["id"])

    status, first = http(fn, "POST", s.HEARTBEAT, learner, course_id=cid, lesson_id=lesson)
    assert status == 200 and first["counted"] is True
    status, again = http(fn, "POST", s.HEARTBEAT, learner, course_id=cid, lesson_id=lesson)  # another tab
    assert status == 200 and again["counted"] is (again["minute"] != first["minute"])
    learner_id = domain.pseudonym(in_process_env["ANALYTICS_PSEUDONYM_KEY"].encode(), uuid.UUID(me["id"]))
    counted = db.execute("SELECT count(*) AS n FROM analytics.activity_minutes WHERE learner = %s",
                         (learner_id,)).fetchone()
    assert counted == {"n": 1 + int(again["counted"])}
    row = db.execute("SELECT minutes, started_at FROM analytics.lesson_learners WHERE learner = %s",
                     (learner_id,)).fetchone()
    assert row is not None and row["minutes"] == counted["n"]

    refused = {
        "not enrolled": (stranger, cid, lesson, 403),
        "the instructor": (teacher, cid, lesson, 403),
        "a lesson of another course": (learner, cid, other["lesson_ids"][0], 404),
        "no such lesson": (learner, cid, str(uuid.uuid4()), 404),
        "no such course": (learner, str(uuid.uuid4()), lesson, 403),
        "not a uuid": (learner, cid, "lesson-1", 404),
        "no token": (None, cid, lesson, 401),
        "a forged token": ("x.y.z", cid, lesson, 401),
    }
    for why, (token, course, target, expected) in refused.items():
        status, body = http(fn, "POST", s.HEARTBEAT, token, course_id=course, lesson_id=target)
        assert status == expected and body["error"]["message"], (why, status, body)
    assert http(fn, "GET", s.HEARTBEAT, learner, course_id=cid, lesson_id=lesson)[0] == 405


def test_export_shows_the_learner_s_analytics_and_deletion_erases_them(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    cid, (lesson, _) = made["course"]["id"], made["lesson_ids"]
    learner, me = api.user("student", "Zed Erasable")
    peer, _ = api.user("student", "Peer")
    enrolment = api.call("POST", f"/courses/{cid}/enrollments", learner).body
    assert api.call("POST", f"/courses/{cid}/enrollments", peer).status == 201
    assert api.call("PUT", f"/enrollments/{enrolment['id']}/lessons/{lesson}/progress", learner,
                    {"status": "completed"}).status == 200
    consume_outbox(fn, db, in_process_env, course_id=cid)
    assert http(fn, "POST", s.HEARTBEAT, learner, course_id=cid, lesson_id=lesson)[0] == 200
    learner_id = domain.pseudonym(in_process_env["ANALYTICS_PSEUDONYM_KEY"].encode(), uuid.UUID(me["id"]))

    export = api.call("GET", "/me/export", learner)
    assert export.status == 200, export
    [course] = export.body["analytics"]["courses"]
    assert course["course_id"] == cid and course["learner_id"] == str(learner_id) and course["percent"] == 50
    assert [x["lesson_id"] for x in export.body["analytics"]["lessons"]] == [lesson]
    assert len(export.body["analytics"]["minutes_on_task"]) == 1
    assert api.call("GET", "/me/export", peer).body["analytics"]["courses"][0]["percent"] == 0

    _, before = http(fn, "GET", s.OVERVIEW, teacher, course_id=cid)
    _, funnel_before = http(fn, "GET", s.LESSONS, teacher, course_id=cid)
    assert api.call("DELETE", "/me", learner, {"password": PASSWORD, "certificates": "keep"}).status == 204
    [deleted] = consume_outbox(fn, db, in_process_env, user_id=me["id"])[-1:]
    assert deleted.name == "user.deleted"
    consume_outbox(fn, db, in_process_env, user_id=me["id"])  # a replay changes nothing

    for table in ("learners", "lesson_learners", "activity_minutes"):
        assert db.execute(f"SELECT count(*) AS n FROM analytics.{table} WHERE learner = %s",
                          (learner_id,)).fetchone() == {"n": 0}, table
    assert db.execute("SELECT count(*) AS n FROM analytics.learners WHERE enrollment_id = %s",
                      (enrolment["id"],)).fetchone() == {"n": 0}
    _, after = http(fn, "GET", s.OVERVIEW, teacher, course_id=cid)
    _, funnel_after = http(fn, "GET", s.LESSONS, teacher, course_id=cid)
    assert {k: after[k] for k in ("enrolled", "completed")} == {k: before[k] for k in ("enrolled", "completed")}
    assert funnel_after == funnel_before  # the figures keep counting the anonymised rows
    _, roster = http(fn, "GET", s.LEARNERS, teacher, course_id=cid)
    assert sorted((x["name"] or "") for x in roster["items"]) == ["", "Peer"]
    assert str(learner_id) not in {x["learner_id"] for x in roster["items"]}

    # an event for the person still in flight (another partition) does not bring them back
    late = new_event("lesson.completed", uuid.UUID(enrolment["id"]), {
        "enrollment_id": enrolment["id"], "user_id": me["id"], "course_id": cid, "course_version": 1,
        "lesson_id": made["lesson_ids"][1], "completed_at": datetime.now(UTC).isoformat()},
        correlation_id="t", aggregate_type="enrollment")
    out = fn.handler(msk_event([late], f"{in_process_env['TOPIC_PREFIX']}.enrollment",
                               first_offset=uuid.uuid4().int % 10**9), Ctx())
    assert out == {"batchItemFailures": []}
    assert db.execute("SELECT count(*) AS n FROM analytics.learners WHERE learner = %s",
                      (learner_id,)).fetchone() == {"n": 0}


def test_a_re_enrolment_starts_the_percent_over_as_the_lms_does(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    cid, (first, _) = made["course"]["id"], made["lesson_ids"]
    learner, _ = api.user("student", "Rita Returner")

    def roster() -> list[tuple[str, int]]:
        consume_outbox(fn, db, in_process_env, course_id=cid)
        _, page = http(fn, "GET", s.LEARNERS, teacher, course_id=cid)
        return [(x["name"], x["percent"]) for x in page["items"]]

    old = api.call("POST", f"/courses/{cid}/enrollments", learner).body
    assert api.call("PUT", f"/enrollments/{old['id']}/lessons/{first}/progress", learner,
                    {"status": "completed"}).status == 200
    assert roster() == [("Rita Returner", 50)]
    assert api.call("DELETE", f"/enrollments/{old['id']}", learner).status in (200, 204)
    assert roster() == []
    new = api.call("POST", f"/courses/{cid}/enrollments", learner)
    assert new.status == 201, new
    assert roster() == [("Rita Returner", 0)]  # the LMS starts the progress over
    assert api.call("PUT", f"/enrollments/{new.body['id']}/lessons/{first}/progress", learner,
                    {"status": "completed"}).status == 200
    assert roster() == [("Rita Returner", 50)]
    _, funnel = http(fn, "GET", s.LESSONS, teacher, course_id=cid)
    assert [(x["started"], x["completed"]) for x in funnel["items"]] == [(1, 1), (0, 0)]  # one person
    _, overview = http(fn, "GET", s.OVERVIEW, teacher, course_id=cid)
    assert (overview["enrolled"], overview["completed"]) == (1, 0)
