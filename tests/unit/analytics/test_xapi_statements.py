"""xAPI statements from rows (analytics/xapi.py): ids, actor, verbs, objects, results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from smartcourse.analytics import xapi

COURSE, LESSON, LEARNER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def row(verb: str, **kw: object) -> xapi.Row:
    return xapi.Row(statement_id=xapi.statement_id(uuid.UUID(int=7)), course_id=COURSE, learner=LEARNER, verb=verb,
                    at=AT, course_title="Databases", **kw)  # type: ignore[arg-type]


def test_statement_ids_are_uuid5_of_the_event_and_stable() -> None:
    event = uuid.uuid4()
    assert xapi.statement_id(event) == xapi.statement_id(event) == uuid.uuid5(xapi.NAMESPACE, str(event))
    assert xapi.statement_id(event).version == 5 and xapi.statement_id(event) != xapi.statement_id(uuid.uuid4())


def test_a_progressed_statement() -> None:
    st = xapi.statement(row("progressed", lesson_id=LESSON, lesson_title="Joins", percent=40),
                        base="https://lms.example/xapi/", home_page="https://lms.example")
    assert st["actor"] == {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": str(LEARNER)}}
    assert st["verb"]["id"] == "http://adlnet.gov/expapi/verbs/progressed"
    assert st["object"]["id"] == f"https://lms.example/xapi/courses/{COURSE}/lessons/{LESSON}"
    assert st["object"]["definition"] == {"type": xapi.LESSON_TYPE, "name": {"en-US": "Joins"}}
    assert st["context"]["contextActivities"]["parent"][0]["id"] == f"https://lms.example/xapi/courses/{COURSE}"
    assert st["result"]["extensions"] == {xapi.PROGRESS_EXTENSION: 40}
    assert st["timestamp"] == "2026-11-03T10:00:00Z" and st["version"] == "1.0.3"


def test_earned_completed_and_voided() -> None:
    base, home = "https://lms.example/xapi", "https://lms.example"
    earned = xapi.statement(row("earned"), base=base, home_page=home)
    assert earned["object"]["id"] == f"{base}/courses/{COURSE}" and "result" not in earned
    assert xapi.statement(row("completed"), base=base, home_page=home)["result"]["completion"] is True
    target = uuid.uuid4()
    voided = xapi.statement(row("voided", voids=target), base=base, home_page=home)
    assert voided["object"] == {"objectType": "StatementRef", "id": str(target)}
    assert voided["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"


def test_an_asked_statement_names_the_lesson_or_the_course_and_never_the_question() -> None:
    base, home = "https://lms.example/xapi", "https://lms.example"
    question = uuid.uuid4()  # the answer message's id
    on_lesson = xapi.statement(xapi.Row(statement_id=xapi.statement_id(question), course_id=COURSE, learner=LEARNER,
                                        verb="asked", at=AT, course_title="Databases", lesson_id=LESSON,
                                        lesson_title="Joins"), base=base, home_page=home)
    assert on_lesson["id"] == str(uuid.uuid5(xapi.NAMESPACE, str(question)))
    assert on_lesson["verb"] == {"id": "http://adlnet.gov/expapi/verbs/asked", "display": {"en-US": "asked"}}
    assert on_lesson["object"]["id"] == f"{base}/courses/{COURSE}/lessons/{LESSON}"
    assert on_lesson["context"]["contextActivities"]["parent"][0]["id"] == f"{base}/courses/{COURSE}"
    assert "result" not in on_lesson  # no response: the question text is not sent (docs/analytics.md)
    on_course = xapi.statement(row("asked"), base=base, home_page=home)
    assert on_course["object"]["id"] == f"{base}/courses/{COURSE}" and "result" not in on_course
    assert set(on_course) == {"id", "actor", "verb", "object", "timestamp", "version", "context"}
