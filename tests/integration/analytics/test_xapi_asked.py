"""The xAPI `asked` statement on the real stack: learners ask through the real AssistantService
(extractive; a course indexed through the real ingestion path), AnalyticsFunction's XapiSync
schedule (the real handler, a Schedule event) turns their questions into statements, and
GET /courses/{id}/analytics/xapi serves them: one per question, its id the UUID v5 of the answer
message, the lesson or the course as object, the pseudonymous actor, no question text. A second run
adds nothing; a question too recent (not settled) waits; an erased learner's question makes no
statement and an earlier one is re-keyed. Without XAPI_LRS_URL nothing is pushed."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

import pytest

from smartcourse.analytics import domain, xapi, xapi_sync
from smartcourse.analytics import schemas as s
from smartcourse.analytics.settings import AnalyticsSettings
from smartcourse.assistant.erasure import erase_user
from smartcourse.auth import Principal
from smartcourse.container import reset_all
from smartcourse.events import new_event
from smartcourse.settings import load_settings
from testkit.courses import create_course, create_user, enroll, index_course
from testkit.msk import msk_event
from testkit.sessions import session_token
from tests.integration.analytics.conftest import COVERED, EXAM, Ctx, ask, http
from tests.integration.analytics.test_content_gaps import analytics_publish
from tests.integration.assistant.materials import COURSE_A

pytestmark = pytest.mark.integration

SCHEDULED = {
    "version": "0",
    "id": "x",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-26T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/AnalyticsFunction-XapiSync"],
    "detail": {},
}


def xapi_sync_run(fn: Any) -> dict[str, Any]:
    out: dict[str, Any] = fn.handler(SCHEDULED, Ctx())
    return out


def asked_statements(fn: Any, token: str, course_id: uuid.UUID) -> list[dict[str, Any]]:
    status, body = http(fn, "GET", s.XAPI, token, {"limit": "500"}, course_id=str(course_id))
    assert status == 200, body
    return [st for st in body["statements"] if st["verb"]["display"]["en-US"] == "asked"]


def test_learners_questions_become_asked_statements_once(
    stack: dict[str, Any],
    fn: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XAPI_ASKED_SETTLE_S", "0")  # the test's questions are read at once
    monkeypatch.delenv("XAPI_LRS_URL", raising=False)
    reset_all()
    db, assistant = stack["db"], stack["assistant"]
    key = os.environ["ANALYTICS_PSEUDONYM_KEY"].encode()
    teacher = create_user(db, "instructor")
    course = create_course(db, stack["objects"], teacher, "The Moon", COURSE_A)
    assert index_course(db, stack["ingestion"], course).switched
    analytics_publish(fn, db, course, stack["prefix"])
    ann, bob, cy = (create_user(db, "student", name=n) for n in ("Ann Asker", "Bob Asker", "Cy Erased"))
    for learner in (ann, bob, cy):
        enroll(db, learner, course)

    # Ann's question is answered from a lesson, Bob's is not in the course; the instructor's question
    # is not a learner's: the AI side keeps no row for it
    asked = {"ann": ask(assistant, ann, course.course_id, COVERED[0][0]),
             "bob": ask(assistant, bob, course.course_id, EXAM[0])}
    assistant.ask(Principal(teacher, "instructor"), course.course_id, "Why are there two tides?")
    with db.transaction() as conn:
        rows = {
            r["message_id"]: r
            for r in conn.execute(
                "SELECT message_id, user_id, lesson_id, gap, asked_at FROM ai.asked_questions WHERE course_id = %s",
                (course.course_id,),
            ).fetchall()
        }
    assert {str(m) for m in rows} == {b["message_id"] for b in asked.values()}

    first = xapi_sync_run(fn)
    assert "push" not in first  # XAPI_LRS_URL unset: nothing is pushed
    assert first["asked"]["added"] >= 2, first
    token = session_token(stack["url"], teacher, "instructor", stack["secret"])
    statements = asked_statements(fn, token, course.course_id)
    assert len(statements) == 2
    settings = load_settings(AnalyticsSettings)
    base = settings.xapi_activity_base.rstrip("/")
    by_id = {st["id"]: st for st in statements}
    for message_id, row in rows.items():
        st = by_id[str(xapi.statement_id(message_id))]  # deterministic: UUID v5 of the answer message
        assert st["verb"]["id"] == "http://adlnet.gov/expapi/verbs/asked"
        assert st["actor"] == {
            "objectType": "Agent",
            "account": {"homePage": settings.xapi_home_page, "name": str(domain.pseudonym(key, row["user_id"]))},
        }
        assert datetime.fromisoformat(st["timestamp"]) == row["asked_at"]
        lesson = row["lesson_id"] if row["gap"] != "not_covered" else None  # as the funnel counts it
        if lesson is not None:
            assert st["object"]["id"] == f"{base}/courses/{course.course_id}/lessons/{lesson}"
            assert st["context"]["contextActivities"]["parent"][0]["id"] == f"{base}/courses/{course.course_id}"
        else:
            assert st["object"]["id"] == f"{base}/courses/{course.course_id}"
        assert "result" not in st
    ann_row = next(r for r in rows.values() if r["user_id"] == ann)
    assert by_id[str(xapi.statement_id(ann_row["message_id"]))]["object"]["definition"]["type"] == xapi.LESSON_TYPE
    text = json.dumps(statements)
    for secret in (COVERED[0][0], EXAM[0], "Ann Asker", "Bob Asker", str(ann), str(bob)):
        assert secret not in text  # neither the question nor who asked it

    # Run again: nothing new; a question asked now waits until it is settled
    assert xapi_sync_run(fn)["asked"]["added"] == 0
    assert asked_statements(fn, token, course.course_id) == statements
    late = ask(assistant, ann, course.course_id, COVERED[1][0])
    unsettled = xapi_sync.record_asked(db, key, settle_s=3600, batch=100)
    assert (unsettled.read, unsettled.added) == (0, 0)

    # Cy asks, then deletes the account: analytics erases the pseudonym before the AI side has
    # deleted the question (another consumer); the question makes no statement. Ann's statements
    # (made before her deletion) are re-keyed with her other rows.
    cy_body = ask(assistant, cy, course.course_id, COVERED[0][0])
    for user in (cy, ann):
        gone = new_event(
            "user.deleted",
            user,
            {"user_id": str(user), "deleted_at": datetime.now().astimezone().isoformat()},
            aggregate_type="user",
        )
        out = fn.handler(msk_event([gone], f"{stack['prefix']}.user", first_offset=uuid.uuid4().int % 10**9), Ctx())
        assert out == {"batchItemFailures": []}, out
    run = xapi_sync_run(fn)
    assert run["asked"] == {"read": 2, "added": 0, "erased": 2}, run  # Cy's question and Ann's late one
    after = asked_statements(fn, token, course.course_id)
    names = {st["actor"]["account"]["name"] for st in after}
    assert str(domain.pseudonym(key, cy)) not in names and str(domain.pseudonym(key, ann)) not in names
    assert str(xapi.statement_id(uuid.UUID(cy_body["message_id"]))) not in {st["id"] for st in after}
    assert str(xapi.statement_id(uuid.UUID(late["message_id"]))) not in {st["id"] for st in after}
    with db.transaction() as conn:  # the AI side's erasure then deletes the questions themselves
        erase_user(conn, cy)
        assert conn.execute("SELECT count(*) AS n FROM ai.asked_questions WHERE user_id = %s", (cy,)).fetchone() == {
            "n": 0
        }
