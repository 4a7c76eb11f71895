"""The LMS service layer: one method per use case, run inside one transaction (the repository's).

It loads what a rule needs, asks the domain, writes the change and its outbox events through the
repository, and returns the response model. Post-commit side effects (deleting an S3 object) are
queued in `after_commit` for the caller to run once the transaction has committed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from smartcourse import auth
from smartcourse.accounts import service as accounts
from smartcourse.auth import Principal
from smartcourse.cursor import decode_cursor, encode_cursor
from smartcourse.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from smartcourse.events import new_event
from smartcourse.lms import domain, event_schemas
from smartcourse.lms import schemas as s
from smartcourse.lms.objects import Storage
from smartcourse.lms.repository import PgRepository
from smartcourse.observability import current_correlation_id


@dataclass(frozen=True)
class LmsConfig:
    jwt_secret: str
    max_asset_bytes: int = 50 * 1024 * 1024


@dataclass
class LmsService:
    repo: PgRepository
    storage: Storage
    config: LmsConfig
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    # --- helpers -----------------------------------------------------------------------------------
    def _emit(self, name: str, aggregate_id: uuid.UUID, data: dict[str, Any],
              aggregate_type: str | None = None) -> None:
        event = new_event(name, aggregate_id, data, correlation_id=current_correlation_id(),
                          aggregate_type=aggregate_type)
        event_schemas.validate(name, event.aggregate_type, data)  # the documented shape, or a 500
        self.repo.add_event(event)

    def _course(self, principal: Principal, course_id: uuid.UUID, *, lock: bool = False) -> domain.Course:
        course = self.repo.get_course(course_id, lock=lock)
        if course is None:
            raise NotFound("course not found")
        return course

    def _editable_course(self, principal: Principal, course_id: uuid.UUID, *, lock: bool = False) -> domain.Course:
        course = self._course(principal, course_id, lock=lock)
        enrolled = False
        if not domain.can_edit(principal, course) and course.status == "archived":
            enrolled = self.repo.live_enrollment(principal.user_id, course_id) is not None
        domain.require_editor(principal, course, enrolled=enrolled)
        return course

    def _module(self, course_id: uuid.UUID, module_id: uuid.UUID) -> domain.Module:
        module = self.repo.get_module(course_id, module_id)
        if module is None:
            raise NotFound("module not found")
        return module

    def _check_asset_ref(self, course_id: uuid.UUID, asset_id: uuid.UUID | None) -> None:
        if asset_id is not None and self.repo.get_asset(course_id, asset_id) is None:
            raise ValidationFailed("the request is not valid",
                                   details=[FieldProblem("asset_id", "no such asset in this course")])

    @staticmethod
    def _move(ids: list[uuid.UUID], item: uuid.UUID, position: int | None) -> list[uuid.UUID]:
        rest = [i for i in ids if i != item]
        at = len(rest) if position is None else min(position, len(rest))
        return [*rest[:at], item, *rest[at:]]

    # --- users -------------------------------------------------------------------------------------
    def register(self, req: s.RegisterRequest) -> s.UserEnvelope:
        row = self.repo.insert_user(req.email, auth.hash_password(req.password), req.name, req.role)
        if row is None:
            raise Conflict("an account with this email already exists",
                           details=[FieldProblem("email", "already registered")])
        # The address is confirmed through an emailed link (docs/accounts.md).
        accounts.issue_link(self.repo.conn, "email_verification", row.email, row.id)
        return s.UserEnvelope(user=_out(s.User, row))

    def me(self, principal: Principal) -> s.UserEnvelope:
        row = self.repo.user_by_id(principal.user_id)
        if row is None:
            raise Unauthorized("the account no longer exists")
        return s.UserEnvelope(user=_out(s.User, row))

    # --- courses -----------------------------------------------------------------------------------
    def create_course(self, principal: Principal, req: s.CreateCourseRequest) -> s.Course:
        if principal.role not in ("instructor", "admin"):
            raise Forbidden("only instructors create courses")
        domain.check_enrollment_window(req.enroll_opens_at, req.enroll_closes_at)
        return _out(s.Course, self.repo.insert_course(principal.user_id, req.model_dump()))

    def list_courses(self, principal: Principal, query: s.CourseListQuery) -> s.CoursePage:
        rows = self.repo.list_courses(viewer_id=principal.user_id, is_admin=principal.is_admin, status=query.status,
                                      instructor_id=query.instructor_id, q=query.q,
                                      after=decode_cursor(query.cursor), limit=query.limit + 1)
        items = rows[: query.limit]
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > query.limit else None
        return s.CoursePage(items=[_out(s.Course, r) for r in items], next_cursor=next_cursor)

    def get_course(self, principal: Principal, course_id: uuid.UUID, query: s.CourseQuery) -> s.CourseDetail:
        course = self.repo.get_course(course_id)
        enrollment = None
        if course is not None and not domain.can_edit(principal, course):
            enrollment = self.repo.live_enrollment(principal.user_id, course_id)
        course = domain.require_visible(principal, course, enrolled=enrollment is not None)
        version = query.version
        if version is None and not domain.can_edit(principal, course):
            version = enrollment.course_version if enrollment else course.published_version
        if version is None:  # an editor's default: the draft
            modules = self.repo.list_modules(course_id)
            lessons = self.repo.list_lessons(course_id)
            out = [_out(s.Module, m, lessons=[_out(s.Lesson, x) for x in lessons if x.module_id == m.id])
                   for m in modules]
            return _out(s.CourseDetail, course, structure="draft", version=None, modules=out)
        snapshot = self.repo.get_snapshot(course_id, version)
        if snapshot is None:
            raise NotFound(f"course version {version} not found")
        return _out(s.CourseDetail, course, structure="published", version=version,
                    modules=snapshot_modules(course_id, snapshot))

    def update_course(self, principal: Principal, course_id: uuid.UUID, req: s.UpdateCourseRequest) -> s.Course:
        course = self._editable_course(principal, course_id, lock=True)
        changes = {k: getattr(req, k) for k in req.model_fields_set if k != "archived"}
        if "archived" in req.model_fields_set:
            if req.archived:
                changes["status"] = "archived"
            elif course.status == "archived":
                changes["status"] = "published" if course.published_version else "draft"
        opens = changes.get("enroll_opens_at", course.enroll_opens_at)
        closes = changes.get("enroll_closes_at", course.enroll_closes_at)
        domain.check_enrollment_window(opens, closes)
        changes = {k: v for k, v in changes.items() if getattr(course, k) != v}
        if not changes:
            return _out(s.Course, course)
        row = self.repo.update_course(course_id, changes)
        self._emit("course.updated", course_id, {
            "course_id": str(course_id), "instructor_id": str(row.instructor_id), "status": row.status,
            "changes": json.loads(json.dumps(changes, default=str)), "updated_at": row.updated_at.isoformat()})
        return _out(s.Course, row)

    # --- structure (draft) -------------------------------------------------------------------------
    def create_module(self, principal: Principal, course_id: uuid.UUID, req: s.CreateModuleRequest) -> s.Module:
        self._editable_course(principal, course_id, lock=True)
        ids = [m.id for m in self.repo.list_modules(course_id)]
        if len(ids) >= 200:
            raise Conflict("a course has at most 200 modules")
        row = self.repo.insert_module(course_id, req.title, len(ids))
        order = self._move([*ids, row.id], row.id, req.position)
        self.repo.set_positions("modules", order)
        return _out(s.Module, row, position=order.index(row.id), lessons=[])

    def update_module(self, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID,
                      req: s.UpdateModuleRequest) -> s.Module:
        self._editable_course(principal, course_id, lock=True)
        module = self._module(course_id, module_id)
        if req.title is not None:
            self.repo.update_module_title(module_id, req.title)
        if "position" in req.model_fields_set:
            ids = [m.id for m in self.repo.list_modules(course_id)]
            self.repo.set_positions("modules", self._move(ids, module_id, req.position))
        module = self._module(course_id, module_id)
        lessons = self.repo.list_lessons(course_id, module_id)
        return _out(s.Module, module, lessons=[_out(s.Lesson, x) for x in lessons])

    def delete_module(self, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID) -> None:
        self._editable_course(principal, course_id, lock=True)
        self._module(course_id, module_id)
        self.repo.delete_module(module_id)
        self.repo.set_positions("modules", [m.id for m in self.repo.list_modules(course_id)])

    def create_lesson(self, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID,
                      req: s.CreateLessonRequest) -> s.Lesson:
        self._editable_course(principal, course_id, lock=True)
        self._module(course_id, module_id)
        self._check_asset_ref(course_id, req.asset_id)
        ids = [x.id for x in self.repo.list_lessons(course_id, module_id)]
        if len(ids) >= 200:
            raise Conflict("a module has at most 200 lessons")
        row = self.repo.insert_lesson(course_id, module_id, req.model_dump(exclude={"position"}), len(ids))
        order = self._move([*ids, row.id], row.id, req.position)
        self.repo.set_positions("lessons", order)
        return _out(s.Lesson, row, position=order.index(row.id))

    def update_lesson(self, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID, lesson_id: uuid.UUID,
                      req: s.UpdateLessonRequest) -> s.Lesson:
        self._editable_course(principal, course_id, lock=True)
        if self.repo.get_lesson(course_id, module_id, lesson_id) is None:
            raise NotFound("lesson not found")
        if "asset_id" in req.model_fields_set:
            self._check_asset_ref(course_id, req.asset_id)
        self.repo.update_lesson(lesson_id, {k: getattr(req, k) for k in req.model_fields_set if k != "position"})
        if "position" in req.model_fields_set:
            ids = [x.id for x in self.repo.list_lessons(course_id, module_id)]
            self.repo.set_positions("lessons", self._move(ids, lesson_id, req.position))
        row = self.repo.get_lesson(course_id, module_id, lesson_id)
        assert row is not None
        return _out(s.Lesson, row)

    def delete_lesson(self, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID,
                      lesson_id: uuid.UUID) -> None:
        self._editable_course(principal, course_id, lock=True)
        if self.repo.get_lesson(course_id, module_id, lesson_id) is None:
            raise NotFound("lesson not found")
        self.repo.delete_lesson(lesson_id)
        self.repo.set_positions("lessons", [x.id for x in self.repo.list_lessons(course_id, module_id)])

    # --- publishing --------------------------------------------------------------------------------
    def publish(self, principal: Principal, course_id: uuid.UUID) -> s.PublishResult:
        course = self._editable_course(principal, course_id, lock=True)
        modules = self.repo.list_modules(course_id)
        lessons = self.repo.list_lessons(course_id)
        assets = self.repo.list_assets(course_id)
        problems = domain.publish_problems(modules, lessons, {a.id for a in assets})
        if problems:
            raise Conflict("the course cannot be published yet", details=problems)
        version = (course.published_version or 0) + 1
        snapshot = domain.build_snapshot(course, version, modules, lessons, assets)
        published = self.repo.insert_version(course_id, version, snapshot, principal.user_id)
        row = self.repo.update_course(course_id, {"status": "published", "published_version": version})
        self._emit("course.published", course_id, {
            "course_id": str(course_id), "version": version, "title": course.title,
            "instructor_id": str(course.instructor_id), "published_at": published["published_at"].isoformat(),
            "assets": snapshot["assets"],
            "lessons": [{k: x[k] for k in ("lesson_id", "module_id", "title", "kind", "required", "asset_id",
                                            "position")} for x in domain.snapshot_lessons(snapshot)],
        })
        return s.PublishResult(course=_out(s.Course, row), version=version, published_at=published["published_at"])

    # --- assets ------------------------------------------------------------------------------------
    def create_asset(self, principal: Principal, course_id: uuid.UUID, req: s.CreateAssetRequest) -> s.AssetCreated:
        self._editable_course(principal, course_id)
        content_type = domain.media_type(req.content_type)
        if content_type is None:
            allowed = ", ".join(sorted(domain.ALLOWED_CONTENT_TYPES))
            raise UnsupportedMediaType(f"content type {req.content_type!r} is not accepted; use one of: {allowed}",
                                       details=[FieldProblem("content_type", "not an accepted type")])
        if req.size > self.config.max_asset_bytes:
            raise PayloadTooLarge(f"an asset may be at most {self.config.max_asset_bytes} bytes",
                                  details=[FieldProblem("size", f"exceeds {self.config.max_asset_bytes} bytes")])
        asset_id = uuid.uuid4()
        key = domain.asset_key(course_id, asset_id, req.filename)
        row = self.repo.insert_asset(asset_id, course_id, req.filename, content_type, req.size, key, principal.user_id)
        self._emit("asset.created", asset_id, {
            "asset_id": str(asset_id), "course_id": str(course_id), "s3_key": key, "filename": req.filename,
            "content_type": content_type, "size_bytes": req.size})
        upload = self.storage.presign_upload(key, content_type, req.size)
        return s.AssetCreated(
            asset=_out(s.Asset, row, status="pending_upload"),
            upload=s.Upload(method="POST", url=upload.url, fields=upload.fields, expires_at=upload.expires_at))

    def list_assets(self, principal: Principal, course_id: uuid.UUID) -> s.AssetList:
        self._editable_course(principal, course_id)
        rows = self.repo.list_assets(course_id)
        statuses = self.repo.index_statuses([r.id for r in rows])
        items = []
        for r in rows:
            st = statuses.get(r.id)
            items.append(_out(s.Asset, r, status=st.status if st else "pending_upload", error=st.error if st else None))
        return s.AssetList(items=items)

    def delete_asset(self, principal: Principal, course_id: uuid.UUID, asset_id: uuid.UUID) -> None:
        course = self._editable_course(principal, course_id, lock=True)
        asset = self.repo.get_asset(course_id, asset_id)
        if asset is None:
            raise NotFound("asset not found")
        users = self.repo.lessons_using_asset(asset_id)
        if users:
            raise Conflict("the asset is used by lessons; detach it first",
                           details=[FieldProblem(f"lessons.{u.id}", f"uses it ({u.title})") for u in users])
        if course.published_version:
            snapshot = self.repo.get_snapshot(course_id, course.published_version) or {"modules": []}
            if any(x.get("asset_id") == str(asset_id) for x in domain.snapshot_lessons(snapshot)):
                raise Conflict("the published version uses this asset; publish a version without it first")
        self.repo.mark_asset_deleted(asset_id)
        self._emit("asset.deleted", asset_id, {"asset_id": str(asset_id), "course_id": str(course_id),
                                                "s3_key": asset.s3_key})
        key = asset.s3_key
        self.after_commit.append(lambda: self.storage.delete(key))

    def download_asset(self, principal: Principal, course_id: uuid.UUID, asset_id: uuid.UUID) -> s.Download:
        course = self._course(principal, course_id)
        asset = self.repo.get_asset(course_id, asset_id)
        if not domain.can_edit(principal, course):
            enrollment = self.repo.live_enrollment(principal.user_id, course_id)
            domain.require_visible(principal, course, enrolled=enrollment is not None)
            if enrollment is None:
                raise Forbidden("enrol in the course to download its materials")
            snapshot = self.repo.get_snapshot(course_id, enrollment.course_version) or {}
            if not any(a["asset_id"] == str(asset_id) for a in snapshot.get("assets", [])):
                raise NotFound("asset not found")
        if asset is None:
            raise NotFound("asset not found")
        d = self.storage.presign_download(asset.s3_key, asset.filename)
        return s.Download(url=d.url, expires_at=d.expires_at)

    # --- enrollments -------------------------------------------------------------------------------
    def enroll(self, principal: Principal, course_id: uuid.UUID) -> s.Enrollment:
        course = self.repo.get_course(course_id)
        if course is None or not domain.can_see(principal, course, enrolled=True):
            raise NotFound("course not found")
        if self.repo.live_enrollment(principal.user_id, course_id) is not None:
            raise Conflict("you are already enrolled in this course")
        if course.capacity is not None:
            course = self._course(principal, course_id, lock=True)  # serialise the seat count
            live: int | None = self.repo.count_live_enrollments(course_id)
        else:
            live = None
        domain.check_can_enroll(principal, course, self.clock(), live)
        assert course.published_version is not None  # check_can_enroll: published
        row = self.repo.insert_enrollment(principal.user_id, course_id, course.published_version)
        if row is None:
            raise Conflict("you are already enrolled in this course")
        self._emit("enrollment.created", row.id, {
            "enrollment_id": str(row.id), "user_id": str(row.user_id), "course_id": str(course_id),
            "course_version": row.course_version, "enrolled_at": row.enrolled_at.isoformat()})
        return _out(s.Enrollment, row, course_title=course.title)

    def my_enrollments(self, principal: Principal, query: s.EnrollmentQuery) -> s.EnrollmentPage:
        rows = self.repo.list_user_enrollments(principal.user_id, query.status, decode_cursor(query.cursor),
                                               query.limit + 1)
        items = rows[: query.limit]
        next_cursor = encode_cursor(items[-1].enrolled_at, items[-1].id) if len(rows) > query.limit else None
        return s.EnrollmentPage(items=[_out(s.Enrollment, r) for r in items], next_cursor=next_cursor)

    def _own_enrollment(self, principal: Principal, enrollment_id: uuid.UUID, *, lock: bool = False,
                        instructor_may_read: bool = False) -> domain.Enrollment:
        row = self.repo.get_enrollment(enrollment_id, lock=lock)
        if row is None:
            raise NotFound("enrollment not found")
        if row.user_id == principal.user_id or principal.is_admin:
            return row
        if instructor_may_read:
            course = self.repo.get_course(row.course_id)
            if course is not None and course.instructor_id == principal.user_id:
                return row
        raise NotFound("enrollment not found")

    def cancel_enrollment(self, principal: Principal, enrollment_id: uuid.UUID) -> s.Enrollment:
        row = self._own_enrollment(principal, enrollment_id, lock=True)
        if row.status != "active":
            raise Conflict(f"the enrollment is {row.status} and cannot be cancelled")
        row = self.repo.set_enrollment_status(enrollment_id, "cancelled", self.clock())
        assert row.cancelled_at is not None  # set_enrollment_status stamped it
        self._emit("enrollment.cancelled", enrollment_id, {
            "enrollment_id": str(enrollment_id), "user_id": str(row.user_id), "course_id": str(row.course_id),
            "course_version": row.course_version, "cancelled_at": row.cancelled_at.isoformat()})
        return _out(s.Enrollment, row)

    # --- progress ----------------------------------------------------------------------------------
    def update_progress(self, principal: Principal, enrollment_id: uuid.UUID, lesson_id: uuid.UUID,
                        req: s.ProgressRequest) -> s.ProgressUpdated:
        # The row lock serialises every progress write of this enrollment: the completion check below
        # sees the other writers' commits, so course.completed is written exactly once.
        enrollment = self._own_enrollment(principal, enrollment_id, lock=True)
        if enrollment.status == "cancelled":
            raise Conflict("the enrollment is cancelled")
        current = self.repo.get_progress(enrollment_id, lesson_id)
        if current is None:
            raise NotFound(f"lesson {lesson_id} is not part of course version {enrollment.course_version} "
                           "of this enrollment")
        change = domain.next_progress(current.status, current.percent, req.status, req.percent)
        now = self.clock()
        lesson = current
        if (change.status, change.percent) != (current.status, current.percent):
            lesson = self.repo.save_progress(enrollment_id, lesson_id, change.status, change.percent,
                                             now if change.became_completed else None)
        base = {"enrollment_id": str(enrollment_id), "user_id": str(enrollment.user_id),
                "course_id": str(enrollment.course_id), "course_version": enrollment.course_version}
        if change.became_completed:
            assert lesson.completed_at is not None  # save_progress stamped it
            self._emit("lesson.completed", enrollment_id, {
                **base, "lesson_id": str(lesson_id), "completed_at": lesson.completed_at.isoformat()},
                aggregate_type="enrollment")
        # The repository fetches the facts (every lesson's progress, this write included); the domain
        # decides whether the completion rule is met and what the course percentage is.
        rows = self.repo.progress_rows(enrollment_id)
        status = enrollment.status
        if status == "active" and domain.is_complete(rows):
            updated = self.repo.set_enrollment_status(enrollment_id, "completed", now)
            assert updated.completed_at is not None  # set_enrollment_status stamped it
            status = "completed"
            self._emit("course.completed", enrollment_id, {
                "enrollment_id": str(enrollment_id), "course_id": base["course_id"],
                "course_version": enrollment.course_version, "user_id": base["user_id"],
                "completed_at": updated.completed_at.isoformat()}, aggregate_type="enrollment")
        return s.ProgressUpdated(
            lesson=s.LessonProgress(**asdict(lesson)), enrollment_status=status,
            percent=domain.course_percent(rows), completed=status == "completed")

    def get_progress(self, principal: Principal, enrollment_id: uuid.UUID) -> s.Progress:
        enrollment = self._own_enrollment(principal, enrollment_id, instructor_may_read=True)
        snapshot = self.repo.get_snapshot(enrollment.course_id, enrollment.course_version) or {"modules": []}
        by_id = {r.lesson_id: r for r in self.repo.progress_rows(enrollment_id)}
        lessons: list[s.LessonProgress] = []
        rows: list[domain.LessonProgress] = []  # in reading order
        titles: dict[uuid.UUID, str] = {}
        for x in domain.snapshot_lessons(snapshot):
            r = by_id.get(uuid.UUID(x["lesson_id"]))
            if r is None:
                continue
            rows.append(r)
            titles[r.lesson_id] = x["title"]
            lessons.append(s.LessonProgress(**asdict(r), module_id=x["module_id"], title=x["title"]))
        remaining = [s.Remaining(lesson_id=r.lesson_id, title=titles[r.lesson_id], why=domain.why_remaining(r))
                     for r in domain.remaining(rows)]
        return s.Progress(
            enrollment_id=enrollment_id, course_id=enrollment.course_id,
            course_version=enrollment.course_version, status=enrollment.status,
            percent=domain.course_percent(rows), completed=enrollment.status == "completed",
            completed_at=enrollment.completed_at, lessons=lessons, remaining=remaining)


M = TypeVar("M", bound=BaseModel)


def _out(model: type[M], entity: Any, **extra: Any) -> M:
    """A response model from an entity (a dataclass) and the fields the response adds."""
    return model(**{**asdict(entity), **extra})


def snapshot_modules(course_id: uuid.UUID, snapshot: dict[str, Any]) -> list[s.Module]:
    return [s.Module(id=m["module_id"], course_id=course_id, title=m["title"], position=m["position"], lessons=[
        s.Lesson(id=x["lesson_id"], module_id=x["module_id"], course_id=course_id, title=x["title"], kind=x["kind"],
                 required=x["required"], body=x.get("body"), asset_id=x.get("asset_id"), position=x["position"])
        for x in m["lessons"]]) for m in snapshot["modules"]]
