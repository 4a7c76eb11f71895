"""A scripted cohort through the whole path: the LMS API writes the events, their times are set to
simulated days (no sleeping), the real relay publishes them to Kafka, they are read back from Kafka
and consumed by the real AnalyticsFunction handler (enrolment records delivered before the course's
publish event); minutes on task come through the heartbeat; learners of the cohort ask the real
AssistantService (extractive mode) about the version indexed by the real ingestion path, and a second
version, published through the API, covers one of their gaps when it goes live. The reports (overview,
funnel with questions asked, roster, at-risk reasons, content gaps open then covered) then say
exactly what the script implies; replaying every event (and the live switch) changes nothing;
learners and other instructors get 403."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from smartcourse.ai.ingestion import IngestionService, PublishOutcome
from smartcourse.analytics import schemas as s
from smartcourse.analytics import service
from smartcourse.auth import Principal
from smartcourse.db import Database
from testkit.courses import Material, MemoryObjects, SeededCourse, index_course
from tests.integration.analytics.conftest import (
    COVERED,
    ECLIPSE,
    ECLIPSES,
    EXAM,
    Ctx,
    Kafka,
    ask,
    evidence_of,
    gap_of,
    http,
    outbox_ids,
    shift,
)
from tests.integration.assistant.materials import COURSE_A
from tests.integration.lms.conftest import Api

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
T = (NOW - timedelta(days=20)).replace(second=0, microsecond=0)  # minute-aligned: two tabs share a minute


EXAM_TOO = "On which day is the final exam?"  # a third learner asks about the exam


def day(n: float) -> datetime:
    return T + timedelta(days=n)


class Cohort:
    """A course of four required lessons built and published through the LMS API: lessons 1 and 2
    are documents (the assistant's material, `COURSE_A`: the Moon's orbit and tides, its surface),
    lessons 3 and 4 text. The files go to `objects`, where the ingestion reads them (what the
    presigned upload would have stored)."""

    def __init__(self, api: Api, db: psycopg.Connection[Any], objects: MemoryObjects | None = None) -> None:
        self.api, self.db, self.objects = api, db, objects or MemoryObjects()
        self.teacher, self.teacher_user = api.user("instructor", "Teacher")
        course = api.call("POST", "/courses", self.teacher, {"title": "The Moon", "description": "d"})
        assert course.status == 201, course
        self.course_id: str = course.body["id"]
        module = api.call("POST", f"/courses/{self.course_id}/modules", self.teacher, {"title": "Module 1"})
        assert module.status == 201, module
        self.module_id: str = module.body["id"]
        self.lessons: list[str] = []
        for i in range(4):
            lesson = {"title": f"Lesson {i + 1}", "kind": "text", "body": f"Body {i + 1}"}
            if i < len(COURSE_A):
                lesson = {"title": f"Lesson {i + 1}", "kind": "document", "asset_id": self.upload(COURSE_A[i])}
            r = api.call("POST", f"/courses/{self.course_id}/modules/{self.module_id}/lessons", self.teacher, lesson)
            assert r.status == 201, r
            self.lessons.append(r.body["id"])
        self.version = 0
        self.publish()
        self.people: dict[str, dict[str, Any]] = {}

    def upload(self, material: Material) -> str:
        r = self.api.call("POST", f"/courses/{self.course_id}/assets", self.teacher,
                          {"filename": material.filename, "content_type": material.content_type,
                           "size": len(material.data)})
        assert r.status == 201, r
        self.objects.put(r.body["asset"]["s3_key"], material.data, material.content_type)
        return str(r.body["asset"]["id"])

    def publish(self) -> None:
        r = self.api.call("POST", f"/courses/{self.course_id}/publish", self.teacher)
        assert r.status == 201, r
        self.version += 1

    def republish(self, lesson: int, material: Material) -> None:
        """A new version in which lesson `lesson` is a document of `material` (same lessons, same titles)."""
        r = self.api.call("PATCH", f"/courses/{self.course_id}/modules/{self.module_id}/lessons/"
                          f"{self.lessons[lesson - 1]}", self.teacher,
                          {"kind": "document", "body": None, "asset_id": self.upload(material)})
        assert r.status == 200, r
        self.publish()

    def index(self, db: Database, ingestion: IngestionService) -> PublishOutcome:
        """What IngestFunction does with the version's course.published: index it, switch it live (the
        switch re-asks the open gaps)."""
        seeded = SeededCourse(uuid.UUID(self.course_id), uuid.UUID(self.teacher_user["id"]), self.version)
        return index_course(db, ingestion, seeded)

    def learner(self, name: str, enrolled: float) -> dict[str, Any]:
        token, user = self.api.user("student", name)
        r = self.api.call("POST", f"/courses/{self.course_id}/enrollments", token)
        assert r.status == 201, r
        shift(self.db, "enrollment.created", "enrolled_at", day(enrolled), enrollment_id=r.body["id"])
        p = {"token": token, "user_id": uuid.UUID(user["id"]), "enrollment_id": r.body["id"], "name": name}
        self.people[name] = p
        return p

    def completes(self, name: str, lesson: int, at: float) -> None:
        p = self.people[name]
        lesson_id = self.lessons[lesson - 1]
        r = self.api.call("PUT", f"/enrollments/{p['enrollment_id']}/lessons/{lesson_id}/progress", p["token"],
                          {"status": "completed"})
        assert r.status == 200, r
        shift(self.db, "lesson.completed", "completed_at", day(at), enrollment_id=p["enrollment_id"],
              lesson_id=lesson_id)
        if lesson == len(self.lessons):
            shift(self.db, "course.completed", "completed_at", day(at), enrollment_id=p["enrollment_id"])

    def cancels(self, name: str, at: float) -> None:
        p = self.people[name]
        r = self.api.call("DELETE", f"/enrollments/{p['enrollment_id']}", p["token"])
        assert r.status in (200, 204), r
        shift(self.db, "enrollment.cancelled", "cancelled_at", day(at), enrollment_id=p["enrollment_id"])

    def minutes(self, fn: Any, name: str, lesson: int, at: float, count: int) -> list[bool]:
        """`count` heartbeats a minute apart from day `at`, each sent twice (two tabs)."""
        d = fn.deps()
        who = Principal(self.people[name]["user_id"], "student")
        counted = []
        for i in range(count):
            when = day(at).replace(second=0, microsecond=0) + timedelta(minutes=i, seconds=5)
            for tab in (0, 1):
                beat = service.heartbeat(d.database, d.pseudonym_key, who, uuid.UUID(self.course_id),
                                         uuid.UUID(self.lessons[lesson - 1]), when + timedelta(seconds=20 * tab))
                counted.append(beat.counted)
        return counted


def script(api: Api, db: psycopg.Connection[Any], objects: MemoryObjects | None = None) -> Cohort:
    """Seven learners over 20 simulated days (median time to complete: 4 and 8 days -> 6)."""
    c = Cohort(api, db, objects)
    c.learner("Ada", 0)                     # completes in 4 days
    for lesson in range(1, 5):
        c.completes("Ada", lesson, lesson)
    c.learner("Ben", 0.5)                   # completes in 8 days
    for lesson in range(1, 5):
        c.completes("Ben", lesson, 0.5 + 2 * lesson)
    c.learner("Cy", 2)                      # one lesson on day 3, then silence: inactive and behind
    c.completes("Cy", 1, 3)
    c.learner("Dee", 15)                    # one lesson, active yesterday, but behind the median pace
    c.completes("Dee", 1, 16)
    c.learner("Eve", 18)                    # half done in 2 days: ahead of the pace
    c.completes("Eve", 1, 18.5)
    c.completes("Eve", 2, 19)
    c.learner("Fay", 10)                    # enrolled, never started: not at risk by the rule
    c.learner("Gus", 5)                     # cancelled: counted nowhere
    c.cancels("Gus", 6)
    return c


def snapshot(db: psycopg.Connection[Any], course_id: str) -> dict[str, Any]:
    def rows(q: str) -> list[Any]:
        return [dict(r) for r in db.execute(q, (course_id,)).fetchall()]
    return {
        "stats": rows("SELECT enrolled, completed FROM analytics.course_stats WHERE course_id = %s"),
        "learners": rows("SELECT * FROM analytics.learners WHERE course_id = %s ORDER BY learner"),
        "lessons": rows("SELECT * FROM analytics.lesson_learners WHERE course_id = %s ORDER BY lesson_id, learner"),
        "lesson_stats": rows("SELECT * FROM analytics.lesson_stats WHERE course_id = %s ORDER BY lesson_id"),
        "minutes": rows("SELECT * FROM analytics.activity_minutes WHERE course_id = %s ORDER BY learner, minute"),
    }


def reports(fn: Any, token: str, course_id: str) -> dict[str, Any]:
    out = {}
    for name, resource in (("overview", s.OVERVIEW), ("lessons", s.LESSONS), ("at_risk", s.AT_RISK),
                           ("learners", s.LEARNERS)):
        status, body = http(fn, "GET", resource, token, course_id=course_id)
        assert status == 200, (resource, body)
        out[name] = body
    return out


def questions(c: Cohort, stack: dict[str, Any]) -> None:
    """Five of the cohort's learners ask the assistant (the course's version 1): three about eclipses
    (Ada twice), three about the exam date, both not in the material, and three covered questions."""
    database, assistant = stack["db"], stack["assistant"]
    course_id = uuid.UUID(c.course_id)
    for name, question, gap in [*zip(["Ada", "Ben", "Cy", "Ada"], ECLIPSE, [True] * 4, strict=True),
                                *zip(["Ben", "Dee", "Eve"], [*EXAM, EXAM_TOO], [True] * 3, strict=True),
                                ("Dee", COVERED[0][0], False), ("Eve", COVERED[0][0], False),
                                ("Eve", COVERED[1][0], False)]:
        body = ask(assistant, c.people[name]["user_id"], course_id, question)
        assert (gap_of(database, body) is not None) == gap, (question, body, evidence_of(database, body))
    teacher = Principal(uuid.UUID(c.teacher_user["id"]), "instructor")
    assistant.ask(teacher, course_id, "Why is the Moon red in an eclipse?")  # staff: not counted


def gaps(fn: Any, c: Cohort) -> list[dict[str, Any]]:
    status, body = http(fn, "GET", s.CONTENT_GAPS, c.teacher, course_id=c.course_id)
    assert status == 200, body
    return body["items"]  # type: ignore[no-any-return]


def test_a_scripted_cohort_yields_exactly_the_expected_reports_and_a_replay_changes_nothing(
        api: Api, db: psycopg.Connection[Any], fn: Any, relay: Any, kafka: Kafka, stack: dict[str, Any]) -> None:
    c = script(api, db, stack["objects"])
    ids = outbox_ids(db, course_id=c.course_id)
    assert len(ids) == 1 + 7 + 4 + 4 + 1 + 1 + 2 + 1 + 2  # publish, enrolments, lessons, completions, cancel
    relay()
    assert fn.handler(kafka.batch(ids), Ctx()) == {"batchItemFailures": []}
    assert db.execute("SELECT count(*) AS n FROM analytics.processed_events WHERE event_id = ANY(%s::uuid[])",
                      (ids,)).fetchone() == {"n": len(ids)}
    # minutes on task: each heartbeat sent from two tabs counts once
    assert c.minutes(fn, "Ada", 1, 1 - 0.01, 3) == [True, False] * 3
    c.minutes(fn, "Ben", 1, 2.5 - 0.01, 5)
    c.minutes(fn, "Cy", 1, 3 - 0.01, 2)
    c.minutes(fn, "Dee", 2, 18.5, 4)         # reading lesson 2 a day and a half ago, not completed
    # questions to the assistant, on version 1 indexed by the real ingestion
    assert c.index(stack["db"], stack["ingestion"]).switched
    questions(c, stack)
    got = reports(fn, c.teacher, c.course_id)

    overview = got["overview"]
    assert {k: v for k, v in overview.items() if k != "as_of"} == {
        "enrolled": 6, "active_7d": 2, "completed": 2, "completion_rate": 0.333, "median_days_to_complete": 6.0}
    assert datetime.fromisoformat(overview["as_of"]) <= datetime.now(UTC)

    funnel = got["lessons"]["items"]
    assert [x["lesson_id"] for x in funnel] == c.lessons  # course order
    assert [(x["title"], x["started"], x["completed"], x["drop_off_rate"], x["median_minutes"],
             x["questions_asked"]) for x in funnel] == [
        ("Lesson 1", 5, 5, 0.0, 3.0, 2),   # Ada 3, Ben 5, Cy 2 minutes; Dee's and Eve's tides questions
        ("Lesson 2", 4, 3, 0.25, 4.0, 1),  # Dee started (4 minutes) and has not completed; Eve's Tycho
        ("Lesson 3", 2, 2, 0.0, None, 0),  # (the gaps, not covered, count on no lesson)
        ("Lesson 4", 2, 2, 0.0, None, 0)]

    roster = got["learners"]
    assert roster["next_cursor"] is None
    assert [(x["name"], x["percent"], x["completed_at"] is not None) for x in roster["items"]] == [
        ("Eve", 50, False), ("Dee", 25, False), ("Fay", 0, False), ("Cy", 25, False), ("Ben", 100, True),
        ("Ada", 100, True)]  # newest enrolment first
    ada = roster["items"][-1]
    assert datetime.fromisoformat(ada["enrolled_at"]) == day(0)
    assert datetime.fromisoformat(ada["completed_at"]) == day(4)
    assert datetime.fromisoformat(ada["last_active_at"]) == day(4)
    assert all(str(p["user_id"]) not in {x["learner_id"] for x in roster["items"]} for p in c.people.values())

    risky = got["at_risk"]["items"]
    assert [(x["name"], x["percent"], x["days_inactive"]) for x in risky] == [("Cy", 25, 17), ("Dee", 25, 1)]
    assert [[r["rule"] for r in x["reasons"]] for x in risky] == [["inactive", "behind_pace"], ["behind_pace"]]
    assert risky[0]["reasons"][0]["detail"] == f"no activity for 17 days (last active {day(3):%Y-%m-%d})"
    assert risky[0]["reasons"][1]["detail"] == (
        "25% after 18 days; at the course's median pace (6 days to complete) 100% is expected by now")
    assert risky[1]["reasons"][0]["detail"] == (
        "25% after 5 days; at the course's median pace (6 days to complete) 83% is expected by now")
    assert got["at_risk"]["next_cursor"] is None
    # a page at a time, most inactive first: the same learners and reasons
    status, first = http(fn, "GET", s.AT_RISK, c.teacher, {"limit": "1"}, course_id=str(c.course_id))
    assert status == 200 and [x["name"] for x in first["items"]] == ["Cy"] and first["next_cursor"]
    status, second = http(fn, "GET", s.AT_RISK, c.teacher, {"limit": "1", "cursor": first["next_cursor"]},
                          course_id=str(c.course_id))
    assert status == 200 and second["items"] == risky[1:] and second["next_cursor"] is None
    status, bad = http(fn, "GET", s.AT_RISK, c.teacher, {"cursor": "not-a-cursor"}, course_id=str(c.course_id))
    assert status == 400, bad

    # Content gaps: eclipses (3 learners, 4 questions) before the exam date (3 learners, 3 questions)
    eclipse, exam = gaps(fn, c)
    assert [(g["learners"], g["questions"], g["status"], g["covered_version"]) for g in (eclipse, exam)] == [
        (3, 4, "open", None), (3, 3, "open", None)]
    assert eclipse["label"] in {q.replace("ada.l@example.org", "[email]") for q in ECLIPSE}
    assert exam["label"] in {*EXAM, EXAM_TOO}

    # Republish: version 2 makes lesson 3 a document on eclipses; the relay, Kafka and the consumer
    # deliver its course.published, and its going live through the ingestion re-asks the open gaps
    c.republish(3, ECLIPSES)
    republished = outbox_ids(db, course_id=c.course_id)[len(ids):]
    assert len(republished) == 1
    relay()
    assert fn.handler(kafka.batch(republished), Ctx()) == {"batchItemFailures": []}
    ids += republished
    assert c.index(stack["db"], stack["ingestion"]).switched
    eclipse, exam = gaps(fn, c)
    assert [(g["learners"], g["questions"], g["status"], g["covered_version"]) for g in (eclipse, exam)] == [
        (3, 4, "covered", 2), (3, 3, "open", None)]
    assert eclipse["nearest_lessons"][0] == {"lesson_id": c.lessons[2], "title": "Lesson 3"}
    covered = [eclipse, exam]
    after = reports(fn, c.teacher, c.course_id)  # the other reports: as before (same lessons, same titles)
    assert after["lessons"] == got["lessons"] and after["learners"] == got["learners"]
    assert after["at_risk"]["items"] == risky

    # Replay: every event again, through Kafka and the handler, every heartbeat again and the
    # version's live switch again (the sweeper's path)
    before = snapshot(db, c.course_id)
    assert fn.handler(kafka.batch(ids, enrollment_first=False), Ctx()) == {"batchItemFailures": []}
    assert not any(c.minutes(fn, "Dee", 2, 18.5, 4))
    with stack["db"].transaction() as conn:
        again = stack["ingestion"].after_live(conn, uuid.UUID(c.course_id), 2)
    assert (again.checked, again.covered) == (0, 0)
    assert snapshot(db, c.course_id) == before
    replayed = reports(fn, c.teacher, c.course_id)
    assert replayed["lessons"] == got["lessons"] and replayed["learners"] == got["learners"]
    assert {k: v for k, v in replayed["overview"].items() if k != "as_of"} == \
        {k: v for k, v in overview.items() if k != "as_of"}
    assert [(x["name"], x["reasons"]) for x in replayed["at_risk"]["items"]] == \
        [(x["name"], x["reasons"]) for x in risky]
    assert gaps(fn, c) == covered


def test_the_learners_listing_pages_and_sorts(api: Api, db: psycopg.Connection[Any], fn: Any, relay: Any,
                                              kafka: Kafka) -> None:
    c = script(api, db)
    ids = outbox_ids(db, course_id=c.course_id)
    relay()
    assert fn.handler(kafka.batch(ids), Ctx()) == {"batchItemFailures": []}
    status, first = http(fn, "GET", s.LEARNERS, c.teacher, {"limit": "4"}, course_id=c.course_id)
    assert status == 200 and [x["name"] for x in first["items"]] == ["Eve", "Dee", "Fay", "Cy"]
    status, rest = http(fn, "GET", s.LEARNERS, c.teacher, {"limit": "4", "cursor": first["next_cursor"]},
                        course_id=c.course_id)
    assert status == 200 and [x["name"] for x in rest["items"]] == ["Ben", "Ada"] and rest["next_cursor"] is None
    status, by_percent = http(fn, "GET", s.LEARNERS, c.teacher, {"sort": "percent", "limit": "2"},
                              course_id=c.course_id)
    names = [x["name"] for x in by_percent["items"]]
    cursor = by_percent["next_cursor"]
    while cursor:
        _, page = http(fn, "GET", s.LEARNERS, c.teacher, {"sort": "percent", "limit": "2", "cursor": cursor},
                       course_id=c.course_id)
        names += [x["name"] for x in page["items"]]
        cursor = page["next_cursor"]
    assert names[0] == "Fay" and sorted(names[1:3]) == ["Cy", "Dee"] and names[3] == "Eve"
    assert sorted(names[4:]) == ["Ada", "Ben"]
    _, active = http(fn, "GET", s.LEARNERS, c.teacher, {"sort": "-last_active_at"}, course_id=c.course_id)
    assert [x["name"] for x in active["items"]][:2] == ["Eve", "Dee"]
    for bad in ({"sort": "name"}, {"cursor": "nope"}, {"limit": "0"}, {"limit": "x"}):
        status, body = http(fn, "GET", s.LEARNERS, c.teacher, bad, course_id=c.course_id)
        assert status == 400 and body["error"]["details"][0]["field"] == next(iter(bad)), (bad, body)


def test_only_the_instructor_and_admins_see_a_course_s_analytics(
        api: Api, db: psycopg.Connection[Any], fn: Any, database_url: str, api_module: Any) -> None:
    from tests.integration.lms.conftest import admin_token

    c = Cohort(api, db)
    learner = c.learner("Ada", 0)["token"]
    other, _ = api.user("instructor")
    admin, _ = admin_token(database_url, api_module)
    for resource in (s.OVERVIEW, s.LESSONS, s.LEARNERS, s.AT_RISK, s.CONTENT_GAPS):
        assert http(fn, "GET", resource, learner, course_id=c.course_id)[0] == 403
        status, body = http(fn, "GET", resource, other, course_id=c.course_id)
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert http(fn, "GET", resource, admin, course_id=c.course_id)[0] == 200
        assert http(fn, "GET", resource, c.teacher, course_id=c.course_id)[0] == 200
        assert http(fn, "GET", resource, c.teacher, course_id=str(uuid.uuid4()))[0] == 404
        assert http(fn, "GET", resource, c.teacher, course_id="not-a-uuid")[0] == 404
        assert http(fn, "GET", resource, None, course_id=c.course_id)[0] == 401
    for token in (learner, other, c.teacher):
        assert http(fn, "GET", s.ADMIN_OVERVIEW, token)[0] == 403
    status, totals = http(fn, "GET", s.ADMIN_OVERVIEW, admin)
    assert status == 200 and set(totals) == set(s.AdminOverview.model_fields)
    status, _ = http(fn, "POST", s.OVERVIEW, c.teacher, course_id=c.course_id)
    assert status == 405
