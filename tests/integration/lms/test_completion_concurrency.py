"""Two simultaneous completions of the last lesson(s) produce exactly one course.completed.

Each thread has its own Database (its own connection) and runs the service's use case in its own
transaction, as two Lambda containers would."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from smartcourse.auth import Principal
from smartcourse.db import Database
from smartcourse.lms.repository import PgRepository
from smartcourse.lms.schemas import ProgressRequest
from smartcourse.lms.service import LmsConfig, LmsService
from tests.integration.lms.conftest import Api, outbox

pytestmark = pytest.mark.integration
ROUNDS = 4


def _complete_together(database_url: str, learner: Principal, enrollment_id: str, lesson_ids: list[str]) -> list[Any]:
    barrier = threading.Barrier(len(lesson_ids))
    results: list[Any] = [None] * len(lesson_ids)

    def worker(i: int) -> None:
        db = Database(database_url)
        try:
            db.connection()  # connect first, so the two transactions really overlap
            barrier.wait(timeout=10)
            with db.transaction() as conn:
                svc = LmsService(PgRepository(conn), storage=None, config=LmsConfig(jwt_secret="x" * 40))  # type: ignore[arg-type]
                results[i] = svc.update_progress(learner, uuid.UUID(enrollment_id), uuid.UUID(lesson_ids[i]),
                                                 ProgressRequest(status="completed"))
        except Exception as exc:  # reported by the assertion below
            results[i] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(lesson_ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.parametrize("same_lesson", [True, False], ids=["same-last-lesson", "two-different-last-lessons"])
def test_concurrent_last_completions_write_course_completed_once(
        api: Api, db: psycopg.Connection[Any], database_url: str, same_lesson: bool) -> None:
    teacher, _ = api.user("instructor")
    learner_token, learner_user = api.user()
    learner = Principal(uuid.UUID(learner_user["id"]), "student")
    for _ in range(ROUNDS):
        course = api.published_course(teacher, lessons=3)
        cid = course["course"]["id"]
        eid = api.call("POST", f"/courses/{cid}/enrollments", learner_token).body["id"]
        first, second, third = course["lesson_ids"]
        assert api.call("PUT", f"/enrollments/{eid}/lessons/{first}/progress", learner_token,
                        {"status": "completed"}).status == 200
        racing = [second, second] if same_lesson else [second, third]
        if same_lesson:
            api.call("PUT", f"/enrollments/{eid}/lessons/{third}/progress", learner_token, {"status": "completed"})

        results = _complete_together(database_url, learner, eid, racing)

        assert not [r for r in results if isinstance(r, Exception)], results
        # whichever committed second sees every lesson done (with the same lesson, both do)
        assert sum(1 for r in results if r.completed) == (2 if same_lesson else 1)
        completed = [r for r in outbox(db, enrollment_id=eid) if r["event_type"] == "smartcourse.course.completed.v1"]
        assert len(completed) == 1, completed
        lesson_events = [r["payload"]["data"]["lesson_id"] for r in outbox(db, enrollment_id=eid)
                         if r["event_type"] == "smartcourse.lesson.completed.v1"]
        assert sorted(lesson_events) == sorted(course["lesson_ids"])  # each lesson completed once
        status = db.execute("SELECT status FROM lms.enrollments WHERE id = %s", (eid,)).fetchone()
        assert status is not None and status["status"] == "completed"
