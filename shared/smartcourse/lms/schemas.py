"""The LMS API's request and response models: the contract the OpenAPI document is built from.

Requests forbid unknown fields and bound every string, list and page size. Strings refuse NUL and
lone surrogates; one-line strings (titles, names, emails, file names) also refuse control and
bidirectional-override characters (`smartcourse.strings`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from smartcourse import cursor
from smartcourse.lms.domain import ALLOWED_CONTENT_TYPES
from smartcourse.partial import check_partial, partial_schema
from smartcourse.strings import (
    EMAIL_PATTERN,
    LINE_PATTERN,
    NON_BLANK_LINE_PATTERN,
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
    check_email,
    check_line,
    check_text,
    media_type_pattern,
    text_of_at_least,
)

# `json_schema_extra` patterns document the checks (the validators enforce them, with readable problems).
Title = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": NON_BLANK_LINE_PATTERN}),
                  AfterValidator(check_line)]
Description = Annotated[str, Field(max_length=10_000, json_schema_extra={"pattern": TEXT_PATTERN}),
                        AfterValidator(check_text)]
Body = Annotated[str, Field(max_length=100_000, json_schema_extra={"pattern": TEXT_PATTERN}),
                 AfterValidator(check_text)]
Line = Annotated[str, Field(json_schema_extra={"pattern": LINE_PATTERN}), AfterValidator(check_line)]
NonBlankLine = Annotated[str, Field(json_schema_extra={"pattern": NON_BLANK_LINE_PATTERN}), AfterValidator(check_line)]
#: `next_cursor` values (smartcourse.cursor).
CURSOR_PATTERN = cursor.CURSOR_PATTERN


def _date_time_text(value: Any) -> Any:
    if not isinstance(value, str | datetime):  # pydantic would read a number as a Unix time
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2027-01-31T09:00:00Z")
    return value


#: A date-time given as text, as the document states (`format: date-time`), never a number.
DateTimeText = Annotated[datetime, BeforeValidator(_date_time_text)]
Role = Literal["student", "instructor", "admin"]
LessonKind = Literal["text", "video", "document"]


Email = Annotated[str, Field(min_length=3, max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN}),
                  AfterValidator(check_line), AfterValidator(check_email)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: object) -> object:
        """No string of any request reaches storage with a NUL or a lone surrogate."""
        return check_text(value) if isinstance(value, str) else value


class Response(BaseModel):
    """Built from rows: columns a response does not expose are dropped."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


# --- auth -----------------------------------------------------------------------------------------

class RegisterRequest(Request):
    email: Email
    # Request strings are stripped before their length is checked: the pattern says so.
    password: Annotated[str, Field(min_length=10, max_length=128, json_schema_extra={"pattern": text_of_at_least(10)}),
                        AfterValidator(check_text)]
    name: Title
    role: Literal["student", "instructor"] = "student"


class LoginRequest(Request):
    email: Email
    password: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NON_BLANK_TEXT_PATTERN})


class User(Response):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    email_verified_at: datetime | None = Field(default=None, description="when the address was confirmed "
                                               "through the emailed link (null: not yet)")
    phone: str | None = Field(default=None, description="the account's phone number (E.164; PUT /me/phone)")
    phone_verified_at: datetime | None = Field(default=None, description="when the number was verified with the "
                                               "texted code (null: not yet; nothing is texted until then)")


class UserEnvelope(Response):
    user: User


# --- courses --------------------------------------------------------------------------------------

class CreateCourseRequest(Request):
    title: Title
    description: Description = ""
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    enroll_opens_at: DateTimeText | None = None
    enroll_closes_at: DateTimeText | None = None


class UpdateCourseRequest(Request):
    NOT_NULLABLE: ClassVar = ("title", "description", "archived")
    model_config = ConfigDict(json_schema_extra=partial_schema(*NOT_NULLABLE))
    title: Title | None = None
    description: Description | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    enroll_opens_at: DateTimeText | None = None
    enroll_closes_at: DateTimeText | None = None
    archived: bool | None = Field(default=None, description="true archives the course; false restores it")

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateCourseRequest:
        check_partial(self, self.NOT_NULLABLE)
        return self


class CourseListQuery(Request):
    q: NonBlankLine | None = Field(default=None, min_length=1, max_length=100,
                                   description="title contains (case-insensitive)")
    status: Literal["draft", "published", "archived"] | None = None
    instructor_id: uuid.UUID | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=32, max_length=32, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class CourseQuery(Request):
    version: int | None = Field(default=None, ge=1, le=100_000,
                                description="a published version; default: the caller's pinned or latest")


class Course(Response):
    id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    description: str
    status: Literal["draft", "published", "archived"]
    published_version: int | None
    capacity: int | None
    enroll_opens_at: datetime | None
    enroll_closes_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CoursePage(Response):
    items: list[Course]
    next_cursor: str | None


class Lesson(Response):
    id: uuid.UUID
    module_id: uuid.UUID
    course_id: uuid.UUID
    title: str
    kind: LessonKind
    required: bool
    body: str | None
    asset_id: uuid.UUID | None
    position: int


class Module(Response):
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    position: int
    lessons: list[Lesson] = []


class CourseDetail(Course):
    structure: Literal["draft", "published"] = Field(description="draft (editors) or a published version's snapshot")
    version: int | None = Field(description="the published version shown; null for the draft")
    modules: list[Module]


class CreateModuleRequest(Request):
    title: Title
    position: int | None = Field(default=None, ge=0, le=1000, description="insert here; default: last")


class UpdateModuleRequest(Request):
    NOT_NULLABLE: ClassVar = ("title", "position")
    model_config = ConfigDict(json_schema_extra=partial_schema(*NOT_NULLABLE))
    title: Title | None = None
    position: int | None = Field(default=None, ge=0, le=1000)

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateModuleRequest:
        check_partial(self, self.NOT_NULLABLE)
        return self


class CreateLessonRequest(Request):
    title: Title
    kind: LessonKind
    required: bool = True
    body: Body | None = None
    asset_id: uuid.UUID | None = None
    position: int | None = Field(default=None, ge=0, le=1000)


class UpdateLessonRequest(Request):
    NOT_NULLABLE: ClassVar = ("title", "kind", "required", "position")
    model_config = ConfigDict(json_schema_extra=partial_schema(*NOT_NULLABLE))
    title: Title | None = None
    kind: LessonKind | None = None
    required: bool | None = None
    body: Body | None = None
    asset_id: uuid.UUID | None = None
    position: int | None = Field(default=None, ge=0, le=1000)

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateLessonRequest:
        check_partial(self, self.NOT_NULLABLE)
        return self


class PublishResult(Response):
    course: Course
    version: int
    published_at: datetime


# --- assets ---------------------------------------------------------------------------------------

class CreateAssetRequest(Request):
    filename: NonBlankLine = Field(min_length=1, max_length=255,
                           description="display name only (kept as given); the object key uses a sanitised copy")
    content_type: Annotated[str, AfterValidator(check_line)] = Field(
        min_length=3, max_length=120, description="one of " + ", ".join(sorted(ALLOWED_CONTENT_TYPES)) +
        " (any case; parameters after ';' are ignored)",
        json_schema_extra={"pattern": media_type_pattern(ALLOWED_CONTENT_TYPES)})
    size: int = Field(gt=0, le=5 * 1024**3, description="bytes; the upload must be exactly this size")


class Asset(Response):
    id: uuid.UUID
    course_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    s3_key: str
    created_at: datetime
    status: Literal["pending_upload", "uploaded", "processing", "ready", "failed", "deleted"]
    error: str | None = None


class Upload(Response):
    method: Literal["POST", "PUT"]
    url: str
    fields: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    expires_at: datetime


class AssetCreated(Response):
    asset: Asset
    upload: Upload


class AssetList(Response):
    items: list[Asset]


class Download(Response):
    url: str
    expires_at: datetime


# --- enrollments and progress ---------------------------------------------------------------------

class EnrollRequest(Request):
    pass


class Enrollment(Response):
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    status: Literal["active", "completed", "cancelled"]
    enrolled_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    course_title: str | None = None


class EnrollmentQuery(Request):
    status: Literal["active", "completed", "cancelled"] | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=32, max_length=32, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class EnrollmentPage(Response):
    items: list[Enrollment]
    next_cursor: str | None


class ProgressRequest(Request):
    status: Literal["in_progress", "completed"]
    percent: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> ProgressRequest:
        if self.status == "in_progress" and self.percent == 100:
            raise ValueError("percent 100 means completed: send status 'completed'")
        return self


class LessonProgress(Response):
    lesson_id: uuid.UUID
    module_id: uuid.UUID | None = None
    title: str | None = None
    required: bool
    status: Literal["not_started", "in_progress", "completed"]
    percent: int
    completed_at: datetime | None


class Remaining(Response):
    lesson_id: uuid.UUID
    title: str
    why: str


class ProgressUpdated(Response):
    lesson: LessonProgress
    enrollment_status: Literal["active", "completed", "cancelled"]
    percent: int
    completed: bool


class Progress(Response):
    enrollment_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    status: Literal["active", "completed", "cancelled"]
    percent: int
    completed: bool
    completed_at: datetime | None
    lessons: list[LessonProgress]
    remaining: list[Remaining]


class Health(Response):
    status: str
    dependencies: dict[str, dict[str, str]]


class ErrorDetail(Response):
    field: str
    problem: str


class ErrorBody(Response):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class Error(Response):
    error: ErrorBody


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
