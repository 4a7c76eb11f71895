"""LMS domain rules in plain Python: no SQL, AWS or HTTP here.

Who may do what with a course, what a published version freezes, when an enrollment may start,
how one lesson's progress moves, and when the course's completion rule is met (and what is left).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from smartcourse.auth import Principal
from smartcourse.errors import Conflict, FieldProblem, Forbidden, NotFound, RuleViolated
from smartcourse.strings import BIDI_CONTROLS

# --- entities (what the repository returns; the rules below work on them) ---------------------------

CourseStatus = Literal["draft", "published", "archived"]
EnrollmentStatus = Literal["active", "completed", "cancelled"]


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: datetime
    email_verified_at: datetime | None = None
    phone: str | None = None
    phone_verified_at: datetime | None = None
    password_hash: str | None = field(default=None, repr=False)  # read only to check a sign-in


@dataclass(frozen=True, slots=True)
class Course:
    id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    description: str
    status: CourseStatus
    published_version: int | None
    capacity: int | None
    enroll_opens_at: datetime | None
    enroll_closes_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Enrollment:
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int               # the published version it is pinned to
    status: EnrollmentStatus
    enrolled_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    course_title: str | None = None   # when read with its course (a learner's list)


@dataclass(frozen=True, slots=True)
class Module:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    position: int


@dataclass(frozen=True, slots=True)
class Lesson:
    id: uuid.UUID
    module_id: uuid.UUID
    course_id: uuid.UUID
    title: str
    kind: str                         # text | video | document
    required: bool
    body: str | None
    asset_id: uuid.UUID | None
    position: int


@dataclass(frozen=True, slots=True)
class Asset:
    id: uuid.UUID
    course_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    s3_key: str
    created_by: uuid.UUID
    created_at: datetime
    deleted_at: datetime | None


# --- assets ---------------------------------------------------------------------------------------

ALLOWED_CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "PDF",
    "text/markdown": "Markdown",
    "text/html": "HTML",
    "text/plain": "plain text",
    "text/vtt": "WebVTT captions",
    "application/x-subrip": "SRT captions",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
}



def media_type(content_type: str) -> str | None:
    """The accepted media type a Content-Type value names (parameters dropped, lower-cased), or None."""
    name = content_type.split(";", 1)[0].strip().lower()
    return name if name in ALLOWED_CONTENT_TYPES else None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise_filename(filename: str, max_len: int = 120) -> str:
    """A safe S3 key segment: ASCII letters, digits, dot, dash, underscore; keeps the extension."""
    name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip("._-")
    name = re.sub(r"_+", "_", name)
    if not name:
        return "file"
    if len(name) > max_len:
        stem, dot, ext = name.rpartition(".")
        keep_ext = bool(dot) and 0 < len(ext) <= 10
        name = stem[: max_len - len(ext) - 1] + "." + ext if keep_ext else name[:max_len]
    return name


def download_disposition(filename: str) -> str:
    """A Content-Disposition that cannot inject headers or paths: an ASCII ``filename`` (the key's
    sanitised name) plus RFC 6266/5987 ``filename*`` with the display name's last path segment,
    control and bidirectional-override characters removed, percent-encoded."""
    from urllib.parse import quote

    display = filename.replace("\\", "/").rsplit("/", 1)[-1]
    display = "".join(ch for ch in display if ch.isprintable() and ch not in BIDI_CONTROLS).strip() or "file"
    return f"attachment; filename=\"{sanitise_filename(filename)}\"; filename*=UTF-8''{quote(display, safe='')}"


def asset_key(course_id: uuid.UUID, asset_id: uuid.UUID, filename: str) -> str:
    return f"courses/{course_id}/assets/{asset_id}/{sanitise_filename(filename)}"


# --- course access --------------------------------------------------------------------------------

def can_edit(principal: Principal, course: Course) -> bool:
    return principal.is_admin or course.instructor_id == principal.user_id


def can_see(principal: Principal, course: Course, *, enrolled: bool = False) -> bool:
    """Published courses are visible to everyone signed in; drafts to editors; archived ones to
    editors and the learners already enrolled."""
    if can_edit(principal, course):
        return True
    if course.status == "published":
        return True
    return course.status == "archived" and enrolled


def require_editor(principal: Principal, course: Course, *, enrolled: bool = False) -> None:
    """404 if the caller may not know the course exists, 403 if they know it but may not edit it."""
    if can_edit(principal, course):
        return
    if can_see(principal, course, enrolled=enrolled):
        raise Forbidden("only the course's instructor or an admin may change it")
    raise NotFound("course not found")


def require_visible(principal: Principal, course: Course | None, *, enrolled: bool = False) -> Course:
    if course is None or not can_see(principal, course, enrolled=enrolled):
        raise NotFound("course not found")
    return course


# --- publishing -----------------------------------------------------------------------------------

def publish_problems(modules: Sequence[Module], lessons: Sequence[Lesson],
                     live_asset_ids: set[uuid.UUID]) -> list[FieldProblem]:
    """What stops the draft from being published (empty = publishable)."""
    problems: list[FieldProblem] = []
    if not lessons:
        problems.append(FieldProblem("lessons", "a course needs at least one lesson to be published"))
    by_module: dict[uuid.UUID, int] = {}
    for lesson in lessons:
        by_module[lesson.module_id] = by_module.get(lesson.module_id, 0) + 1
        where = f"lessons.{lesson.id}"
        if lesson.kind == "text" and not (lesson.body or "").strip():
            problems.append(FieldProblem(where, "a text lesson needs a body"))
        if lesson.kind in ("video", "document"):
            if lesson.asset_id is None:
                problems.append(FieldProblem(where, f"a {lesson.kind} lesson needs an asset"))
            elif lesson.asset_id not in live_asset_ids:
                problems.append(FieldProblem(where, "the lesson's asset was deleted"))
    for module in modules:
        if by_module.get(module.id, 0) == 0:
            problems.append(FieldProblem(f"modules.{module.id}", "a module needs at least one lesson"))
    return problems


def build_snapshot(course: Course, version: int, modules: Sequence[Module],
                   lessons: Sequence[Lesson], assets: Sequence[Asset]) -> dict[str, Any]:
    """The frozen structure of a published version (what learners see and progress counts)."""
    mods = sorted(modules, key=lambda m: (m.position, str(m.id)))
    out_modules = []
    for m in mods:
        ls = sorted((x for x in lessons if x.module_id == m.id), key=lambda x: (x.position, str(x.id)))
        out_modules.append({
            "module_id": str(m.id), "title": m.title, "position": m.position,
            "lessons": [{
                "lesson_id": str(x.id), "module_id": str(m.id), "title": x.title, "kind": x.kind,
                "required": bool(x.required), "body": x.body,
                "asset_id": str(x.asset_id) if x.asset_id else None, "position": x.position,
            } for x in ls],
        })
    return {
        "course_id": str(course.id), "version": version, "title": course.title,
        "description": course.description,
        "modules": out_modules,
        "assets": [{
            "asset_id": str(a.id), "s3_key": a.s3_key, "filename": a.filename,
            "content_type": a.content_type, "size_bytes": a.size_bytes,
        } for a in assets],
    }


def snapshot_lessons(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Lessons of a snapshot in reading order."""
    return [lesson for m in snapshot["modules"] for lesson in m["lessons"]]


# --- enrolling ------------------------------------------------------------------------------------

def check_enrollment_window(opens: datetime | None, closes: datetime | None) -> None:
    """An enrolment window that is set at both ends opens before it closes (checked on the
    values a course will have, so a PATCH of one end is checked against the stored other)."""
    if opens and closes and opens >= closes:
        raise RuleViolated("enrollment must open before it closes", details=[
            FieldProblem("enroll_closes_at", "must be after enroll_opens_at")])


def check_can_enroll(principal: Principal, course: Course, now: datetime, live_count: int | None) -> None:
    """Raises the reason the caller cannot enrol now; `live_count` is None when uncapped."""
    if course.instructor_id == principal.user_id:
        raise Forbidden("an instructor cannot enrol in their own course")
    if course.status == "archived":
        raise Conflict("the course is archived and no longer takes enrollments")
    if course.status != "published" or course.published_version is None:
        raise NotFound("course not found")
    opens, closes = course.enroll_opens_at, course.enroll_closes_at
    if opens is not None and now < opens:
        raise Conflict(f"enrollment opens at {opens.isoformat()}")
    if closes is not None and now >= closes:
        raise Conflict(f"enrollment closed at {closes.isoformat()}")
    capacity = course.capacity
    if capacity is not None and live_count is not None and live_count >= capacity:
        raise Conflict(f"the course is full ({capacity} places)")


# --- progress and completion ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProgressChange:
    status: str
    percent: int
    became_completed: bool


def next_progress(current_status: str, current_percent: int, requested: str, percent: int | None) -> ProgressChange:
    """Progress only moves forward: a completed lesson stays completed, the percentage never drops
    (a stale client cannot undo progress), and `completed` means 100 %."""
    if current_status == "completed":
        return ProgressChange("completed", 100, False)
    if requested == "completed":
        return ProgressChange("completed", 100, True)
    return ProgressChange("in_progress", max(current_percent, percent or 0), False)


@dataclass(frozen=True, slots=True)
class LessonProgress:
    """One lesson's progress within an enrollment (built by the repository from lms.lesson_progress)."""

    lesson_id: uuid.UUID
    required: bool
    status: str  # 'not_started' | 'in_progress' | 'completed'
    percent: int
    updated_at: datetime | None = None
    completed_at: datetime | None = None


def completion_basis(rows: Sequence[LessonProgress]) -> list[LessonProgress]:
    """The lessons the completion rule counts: the required ones, or all when none is required."""
    required = [r for r in rows if r.required]
    return required or list(rows)


def is_complete(rows: Sequence[LessonProgress]) -> bool:
    """The default completion rule: every required lesson completed."""
    basis = completion_basis(rows)
    return bool(basis) and all(r.status == "completed" for r in basis)


def course_percent(rows: Sequence[LessonProgress]) -> int:
    """The share of the completion basis completed, rounded down (0 when there is nothing to do)."""
    basis = completion_basis(rows)
    if not basis:
        return 0
    done = sum(1 for r in basis if r.status == "completed")
    return (100 * done) // len(basis)


def remaining(rows: Sequence[LessonProgress]) -> list[LessonProgress]:
    """What is left before the course is complete: the basis lessons not completed, in input order."""
    return [r for r in completion_basis(rows) if r.status != "completed"]


def why_remaining(row: LessonProgress) -> str:
    kind = "required lesson" if row.required else "lesson"
    if row.status == "in_progress":
        return f"{kind} in progress ({row.percent}%), not completed"
    return f"{kind} not started"
