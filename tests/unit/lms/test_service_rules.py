"""The LMS service decides completion, percent and what is left with the domain's rules (not a copy).

An in-memory stand-in for the repository supplies the facts; replacing a domain rule must change
what the service answers, so these tests fail if the service re-derived the rule on its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from smartcourse.auth import Principal
from smartcourse.lms import domain
from smartcourse.lms.schemas import ProgressRequest
from smartcourse.lms.service import LmsConfig, LmsService

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
LEARNER = Principal(uuid.uuid4(), "student")


class FakeRepo:
    """The repository calls update_progress / get_progress make, over a dict of progress rows."""

    def __init__(self, lessons: list[tuple[str, bool, str]]) -> None:
        self.course_id = uuid.uuid4()
        self.enrollment = domain.Enrollment(uuid.uuid4(), LEARNER.user_id, self.course_id, 1, "active", NOW,
                                            None, None)
        self.lesson_ids = [uuid.uuid4() for _ in lessons]
        self.titles = {lid: title for lid, (title, _, _) in zip(self.lesson_ids, lessons, strict=True)}
        self.progress: dict[uuid.UUID, domain.LessonProgress] = {
            lid: domain.LessonProgress(lid, required, status, 100 if status == "completed" else 0, NOW,
                                       NOW if status == "completed" else None)
            for lid, (_, required, status) in zip(self.lesson_ids, lessons, strict=True)}
        self.events: list[str] = []

    def get_enrollment(self, enrollment_id: uuid.UUID, *, lock: bool = False) -> domain.Enrollment | None:
        return self.enrollment if enrollment_id == self.enrollment.id else None

    def get_progress(self, enrollment_id: uuid.UUID, lesson_id: uuid.UUID) -> domain.LessonProgress | None:
        return self.progress.get(lesson_id)

    def save_progress(self, enrollment_id: uuid.UUID, lesson_id: uuid.UUID, status: str, percent: int,
                      completed_at: datetime | None) -> domain.LessonProgress:
        row = self.progress[lesson_id]
        row = self.progress[lesson_id] = dataclasses.replace(
            row, status=status, percent=percent, completed_at=row.completed_at or completed_at)
        return row

    def progress_rows(self, enrollment_id: uuid.UUID) -> list[domain.LessonProgress]:
        return list(self.progress.values())

    def set_enrollment_status(self, enrollment_id: uuid.UUID, status: str, at: datetime) -> domain.Enrollment:
        self.enrollment = dataclasses.replace(self.enrollment, status=status, completed_at=at)  # type: ignore[arg-type]
        return self.enrollment

    def add_event(self, event: Any) -> None:
        self.events.append(event.name)

    def get_snapshot(self, course_id: uuid.UUID, version: int) -> dict[str, Any]:
        module_id = str(uuid.uuid4())
        return {"modules": [{"module_id": module_id, "lessons": [
            {"lesson_id": str(lid), "module_id": module_id, "title": self.titles[lid]} for lid in self.lesson_ids]}]}


def service(repo: FakeRepo) -> LmsService:
    return LmsService(repo, storage=None, config=LmsConfig(jwt_secret="x" * 40),  # type: ignore[arg-type]
                      clock=lambda: NOW)


def test_update_and_read_agree_with_the_domain_rule() -> None:
    repo = FakeRepo([("Intro", True, "not_started"), ("Extra", False, "not_started"), ("Core", True, "completed")])
    svc = service(repo)
    eid = repo.enrollment.id
    before = svc.get_progress(LEARNER, eid)
    assert before.percent == 50 and [r.title for r in before.remaining] == ["Intro"]
    assert before.remaining[0].why == "required lesson not started"
    updated = svc.update_progress(LEARNER, eid, repo.lesson_ids[0], ProgressRequest(status="completed"))
    assert updated.completed and updated.percent == 100 and updated.enrollment_status == "completed"
    assert repo.events == ["lesson.completed", "course.completed"]
    after = svc.get_progress(LEARNER, eid)
    assert after.completed and after.percent == 100 and after.remaining == []


def test_the_service_uses_the_domain_rules_not_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap the domain's rule for another (every lesson counts, optional ones too): the service follows."""
    def every_lesson(rows: Sequence[domain.LessonProgress]) -> list[domain.LessonProgress]:
        return list(rows)

    monkeypatch.setattr(domain, "completion_basis", every_lesson)
    repo = FakeRepo([("Intro", True, "not_started"), ("Extra", False, "not_started")])
    svc = service(repo)
    eid = repo.enrollment.id
    updated = svc.update_progress(LEARNER, eid, repo.lesson_ids[0], ProgressRequest(status="completed"))
    # The default rule would say complete (the only required lesson is done) and 100 %.
    assert not updated.completed and updated.percent == 50 and updated.enrollment_status == "active"
    assert repo.events == ["lesson.completed"]
    progress = svc.get_progress(LEARNER, eid)
    assert progress.percent == 50 and [r.title for r in progress.remaining] == ["Extra"]


def test_the_service_completes_the_course_when_the_domain_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain, "is_complete", lambda rows: True)
    repo = FakeRepo([("Intro", True, "not_started"), ("Core", True, "not_started")])
    updated = service(repo).update_progress(LEARNER, repo.enrollment.id, repo.lesson_ids[0],
                                            ProgressRequest(status="in_progress", percent=10))
    assert updated.completed and updated.enrollment_status == "completed"
    assert repo.events == ["course.completed"]
