"""Content gaps on the real stack: a course indexed through the real ingestion path (IngestionService
wired by `ai.bootstrap.build_service`, so its live switch re-asks the gaps), learners asking through
the real AssistantService (extractive mode), the report served by the real AnalyticsFunction handler.

Paraphrases of a question the course does not cover, asked by three learners, make one open gap with
its count and examples and nobody's identity; a question asked by two learners is not shown; the
funnel counts the covered questions per lesson; a new version whose material covers the gap turns it
`covered` (version and time kept) when it goes live, and switching again changes nothing. Learners
and other instructors get 403."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from smartcourse.ai.ingestion import IngestionService
from smartcourse.analytics import schemas as s
from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.events import new_event
from testkit.courses import (
    Material,
    MemoryObjects,
    SeededCourse,
    create_course,
    create_user,
    enroll,
    index_course,
)
from testkit.msk import msk_event
from testkit.sessions import session_token
from tests.integration.analytics.conftest import (
    COVERED,
    ECLIPSE,
    ECLIPSES,
    EXAM,
    Ctx,
    ask,
    evidence_of,
    gap_of,
    http,
)
from tests.integration.assistant.materials import COURSE_A

pytestmark = pytest.mark.integration

def analytics_publish(fn: Any, db: Database, course: SeededCourse, prefix: str) -> None:
    """course.published for the version, through AnalyticsFunction's consumer (its lessons' titles)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT snapshot, published_at FROM lms.course_versions WHERE course_id = %s "
                           "AND version = %s", (course.course_id, course.version)).fetchone()
    assert row is not None
    snap = row["snapshot"]
    data = {"course_id": str(course.course_id), "version": course.version, "title": snap["title"],
            "instructor_id": str(course.instructor_id), "published_at": row["published_at"].isoformat(),
            "assets": snap["assets"],
            "lessons": [{k: x[k] for k in ("lesson_id", "module_id", "title", "kind", "required", "asset_id",
                                          "position")} for m in snap["modules"] for x in m["lessons"]]}
    env = new_event("course.published", course.course_id, data)
    out = fn.handler(msk_event([env], f"{prefix}.course", first_offset=uuid.uuid4().int % 10**9), Ctx())
    assert out == {"batchItemFailures": []}, out


def publish_v2(db: Database, objects: MemoryObjects, ingestion: IngestionService, course: SeededCourse,
               material: Material) -> Any:
    """Version 2 adds a lesson with `material`; indexed and switched live through the real path."""
    from smartcourse.ai.assets import asset_key

    asset_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    key = asset_key(course.course_id, asset_id, material.filename)
    objects.put(key, material.data, material.content_type)
    with db.transaction() as conn:
        snap = conn.execute("SELECT snapshot FROM lms.course_versions WHERE course_id = %s AND version = 1",
                            (course.course_id,)).fetchone()["snapshot"]  # type: ignore[index]
        module = snap["modules"][0]
        conn.execute("INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, created_by) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s)", (asset_id, course.course_id, material.filename,
                                                             material.content_type, len(material.data), key,
                                                             course.instructor_id))
        conn.execute("INSERT INTO lms.lessons (id, module_id, course_id, title, kind, asset_id, position) "
                     "VALUES (%s, %s, %s, %s, 'document', %s, %s)", (lesson_id, module["module_id"],
                                                                     course.course_id, material.lesson_title,
                                                                     asset_id, len(module["lessons"])))
        module["lessons"].append({"lesson_id": str(lesson_id), "module_id": module["module_id"],
                                  "title": material.lesson_title, "kind": "document", "required": True,
                                  "body": None, "asset_id": str(asset_id), "position": len(module["lessons"])})
        snap["assets"].append({"asset_id": str(asset_id), "s3_key": key, "filename": material.filename,
                               "content_type": material.content_type, "size_bytes": len(material.data)})
        snap["version"] = 2
        conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                     "VALUES (%s, 2, %s, %s)", (course.course_id, Jsonb(snap), course.instructor_id))
        conn.execute("UPDATE lms.courses SET published_version = 2 WHERE id = %s", (course.course_id,))
    course.version = 2
    course.asset_ids[material.filename] = asset_id
    course.lesson_ids[asset_id] = lesson_id
    return index_course(db, ingestion, course)


def test_content_gaps_from_learners_questions_to_a_covering_version(stack: dict[str, Any], fn: Any) -> None:
    db, assistant, ingestion = stack["db"], stack["assistant"], stack["ingestion"]
    teacher, other_teacher = create_user(db, "instructor"), create_user(db, "instructor")
    admin = create_user(db, "admin")
    course = create_course(db, stack["objects"], teacher, "The Moon", COURSE_A)
    assert index_course(db, ingestion, course).switched
    analytics_publish(fn, db, course, stack["prefix"])
    learners = [create_user(db, "student", name=f"Learner {n}") for n in range(4)]
    for learner in learners:
        enroll(db, learner, course)

    # Three learners ask about eclipses (one of them twice), two about the exam; the instructor too
    # (staff questions are not counted). All refused or weakly answered on version 1.
    for learner, question in zip([learners[0], learners[1], learners[2], learners[0]], ECLIPSE, strict=True):
        body = ask(assistant, learner, course.course_id, question)
        assert gap_of(db, body) is not None, (question, body, evidence_of(db, body))
    for learner, question in zip([learners[1], learners[3]], EXAM, strict=True):
        body = ask(assistant, learner, course.course_id, question)
        assert gap_of(db, body) is not None, (question, body, evidence_of(db, body))
    assistant.ask(Principal(teacher, "instructor"), course.course_id, "Why is the Moon red in an eclipse?")
    for learner, (question, _) in zip(learners, COVERED, strict=False):
        body = ask(assistant, learner, course.course_id, question)
        assert gap_of(db, body) is None, (question, body, evidence_of(db, body))

    token = session_token(stack["url"], teacher, "instructor", stack["secret"])
    status, report = http(fn, "GET", s.CONTENT_GAPS, token, course_id=str(course.course_id))
    assert status == 200, report
    [gap] = report["items"]                          # the exam question: two learners, not shown
    assert gap["status"] == "open" and gap["covered_version"] is None and gap["covered_at"] is None
    assert gap["learners"] == 3 and gap["questions"] == 4
    assert gap["label"] in {q.replace("ada.l@example.org", "[email]") for q in ECLIPSE}
    assert "Why is the Moon red during a lunar eclipse? my email is [email]" in gap["examples"]
    assert len(gap["examples"]) == 3 and len(set(map(str.casefold, gap["examples"]))) == 3
    text = json.dumps(report)
    assert "@example" not in text and "Learner" not in text
    assert not any(str(x) in text for x in [*learners, teacher])
    # The funnel: learners' questions whose best passage is in the lesson; gaps in no lesson
    status, funnel = http(fn, "GET", s.LESSONS, token, course_id=str(course.course_id))
    assert status == 200, funnel
    asked = {i["lesson_id"]: i["questions_asked"] for i in funnel["items"]}
    assert asked == {str(course.lesson_ids[course.asset_ids[f]]): 1 for _, f in COVERED}

    # Who may read it
    for who, role, expected in ((learners[0], "student", 403), (other_teacher, "instructor", 403),
                                (admin, "admin", 200)):
        status, body = http(fn, "GET", s.CONTENT_GAPS, session_token(stack["url"], who, role, stack["secret"]),
                            course_id=str(course.course_id))
        assert status == expected, (role, body)
    assert http(fn, "GET", s.CONTENT_GAPS, token, course_id=str(uuid.uuid4()))[0] == 404

    # Version 2 adds a lesson on eclipses: going live re-asks the open gaps
    before = datetime.now(UTC)
    outcome = publish_v2(db, stack["objects"], ingestion, course, ECLIPSES)
    assert outcome.switched, outcome
    analytics_publish(fn, db, course, stack["prefix"])
    status, report = http(fn, "GET", s.CONTENT_GAPS, token, course_id=str(course.course_id))
    assert status == 200, report
    [gap] = report["items"]
    assert gap["status"] == "covered" and gap["covered_version"] == 2, gap
    assert datetime.fromisoformat(gap["covered_at"]) >= before
    eclipse_lesson = str(course.lesson_ids[course.asset_ids["eclipses.md"]])
    assert gap["nearest_lessons"][0] == {"lesson_id": eclipse_lesson, "title": "Lunar eclipses"}
    # The exam question is still open (not shown: two learners), tested on version 2
    with db.transaction() as conn:
        rows = conn.execute("SELECT status, checked_version FROM ai.gap_clusters WHERE course_id = %s "
                            "ORDER BY status", (course.course_id,)).fetchall()
    assert [(r["status"], r["checked_version"]) for r in rows] == [("covered", 2), ("open", 2)]
    # A learner now gets an answer; switching version 2 again (a replay, the sweeper) changes nothing
    assert not ask(assistant, learners[3], course.course_id, "Why is the Moon red during a lunar eclipse?")["refused"]
    with db.transaction() as conn:
        again = ingestion.after_live(conn, course.course_id, 2)  # type: ignore[misc]
    assert (again.checked, again.covered) == (0, 0)
    assert http(fn, "GET", s.CONTENT_GAPS, token, course_id=str(course.course_id))[1] == report

