"""LMS domain rules, without any service: access, publishing, enrolling, progress, completion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartcourse.auth import Principal
from smartcourse.errors import Conflict, Forbidden, NotFound, RuleViolated
from smartcourse.lms import domain

OWNER = Principal(uuid.uuid4(), "instructor")
OTHER = Principal(uuid.uuid4(), "instructor")
LEARNER = Principal(uuid.uuid4(), "student")
ADMIN = Principal(uuid.uuid4(), "admin")
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def course(**kw: Any) -> domain.Course:
    return domain.Course(**{"id": uuid.uuid4(), "instructor_id": OWNER.user_id, "title": "T", "description": "",
                            "status": "published", "published_version": 1, "capacity": None,
                            "enroll_opens_at": None, "enroll_closes_at": None, "created_at": NOW,
                            "updated_at": NOW, **kw})


@pytest.mark.parametrize(("name", "expected"), [
    ("notes.pdf", "notes.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\Résumé final.docx", "Resume_final.docx"),
    ("...", "file"),
    ("a" * 300 + ".md", "a" * 117 + ".md"),
])
def test_filenames_become_safe_key_segments(name: str, expected: str) -> None:
    assert domain.sanitise_filename(name) == expected


def test_draft_is_hidden_from_non_editors_and_editing_someone_elses_published_course_is_forbidden() -> None:
    draft = course(status="draft", published_version=None)
    with pytest.raises(NotFound):
        domain.require_editor(OTHER, draft)
    with pytest.raises(Forbidden):
        domain.require_editor(OTHER, course())
    domain.require_editor(OWNER, draft)
    domain.require_editor(ADMIN, draft)
    assert not domain.can_see(LEARNER, course(status="archived"))
    assert domain.can_see(LEARNER, course(status="archived"), enrolled=True)


def test_publish_needs_lessons_bodies_and_live_assets() -> None:
    assert [p.problem for p in domain.publish_problems([], [], set())] == [
        "a course needs at least one lesson to be published"]
    cid = uuid.uuid4()
    m, empty = domain.Module(uuid.uuid4(), cid, "M", 0), domain.Module(uuid.uuid4(), cid, "Empty", 1)
    gone = uuid.uuid4()

    def lesson(kind: str, body: str | None = None, asset_id: uuid.UUID | None = None) -> domain.Lesson:
        return domain.Lesson(uuid.uuid4(), m.id, cid, "L", kind, True, body, asset_id, 0)

    lessons = [lesson("text", body="  "), lesson("document"), lesson("video", asset_id=gone)]
    problems = [p.problem for p in domain.publish_problems([m, empty], lessons, set())]
    assert problems == ["a text lesson needs a body", "a document lesson needs an asset",
                        "the lesson's asset was deleted", "a module needs at least one lesson"]


def test_enrolment_rules() -> None:
    domain.check_can_enroll(LEARNER, course(), NOW, None)
    with pytest.raises(Forbidden):
        domain.check_can_enroll(OWNER, course(), NOW, None)
    with pytest.raises(Conflict, match="archived"):
        domain.check_can_enroll(LEARNER, course(status="archived"), NOW, None)
    with pytest.raises(NotFound):
        domain.check_can_enroll(LEARNER, course(status="draft", published_version=None), NOW, None)
    with pytest.raises(Conflict, match="opens"):
        domain.check_can_enroll(LEARNER, course(enroll_opens_at=NOW + timedelta(days=1)), NOW, None)
    with pytest.raises(Conflict, match="closed"):
        domain.check_can_enroll(LEARNER, course(enroll_closes_at=NOW), NOW, None)
    with pytest.raises(Conflict, match="full"):
        domain.check_can_enroll(LEARNER, course(capacity=2), NOW, 2)
    domain.check_can_enroll(LEARNER, course(capacity=2), NOW, 1)


def test_an_enrolment_window_opens_before_it_closes() -> None:
    domain.check_enrollment_window(NOW, NOW + timedelta(seconds=1))
    domain.check_enrollment_window(None, NOW)
    domain.check_enrollment_window(NOW, None)
    for closes in (NOW, NOW - timedelta(days=1)):
        with pytest.raises(RuleViolated) as err:
            domain.check_enrollment_window(NOW, closes)
        assert [d.field for d in err.value.details] == ["enroll_closes_at"]


def test_progress_only_moves_forward() -> None:
    assert domain.next_progress("not_started", 0, "in_progress", 30) == domain.ProgressChange("in_progress", 30, False)
    assert domain.next_progress("in_progress", 30, "in_progress", 10).percent == 30
    assert domain.next_progress("in_progress", 30, "completed", None) == domain.ProgressChange("completed", 100, True)
    assert domain.next_progress("completed", 100, "in_progress", 5) == domain.ProgressChange("completed", 100, False)
    assert domain.next_progress("completed", 100, "completed", None).became_completed is False


def row(status: str, required: bool = True, percent: int = 0) -> domain.LessonProgress:
    return domain.LessonProgress(uuid.uuid4(), required, status, percent)


def test_completion_counts_required_lessons_or_all_when_none_is_required() -> None:
    rows = [row("completed"), row("not_started", required=False)]
    assert domain.is_complete(rows) and domain.course_percent(rows) == 100
    rows = [row("completed"), row("in_progress", percent=50)]
    assert not domain.is_complete(rows) and domain.course_percent(rows) == 50
    optional_only = [row("completed", required=False), row("not_started", required=False)]
    assert not domain.is_complete(optional_only)
    assert not domain.is_complete([])
    assert domain.why_remaining(row("in_progress", percent=50)) == "required lesson in progress (50%), not completed"


def test_remaining_is_the_basis_not_completed_in_order() -> None:
    first, optional, done, last = (row("in_progress", percent=5), row("not_started", required=False),
                                   row("completed"), row("not_started"))
    assert domain.remaining([first, optional, done, last]) == [first, last]
    assert domain.remaining([optional, row("completed", required=False)]) == [optional]
    assert domain.remaining([done]) == []
