"""The payload (`data`) of every event the LMS writes to the outbox: one model per event name.

The service validates each payload against its model before writing it, and docs/events.md
carries each model's JSON Schema (a test keeps the document equal to these models), so the
catalogue consumers read is what the code writes.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublishedAsset(Payload):
    asset_id: uuid.UUID
    s3_key: str
    filename: str
    content_type: str
    size_bytes: int


class PublishedLesson(Payload):
    lesson_id: uuid.UUID
    module_id: uuid.UUID
    title: str
    kind: Literal["text", "video", "document"]
    required: bool
    asset_id: uuid.UUID | None
    position: int


class CoursePublished(Payload):
    """A new version is live for new enrollments. `assets`: every live asset of the course at
    publish time (lesson materials and supplementary files); the ingestion side indexes them and
    makes this version's chunk sets live."""

    course_id: uuid.UUID
    version: int = Field(ge=1)
    title: str
    instructor_id: uuid.UUID
    published_at: datetime
    assets: list[PublishedAsset]
    lessons: list[PublishedLesson]


class CourseUpdated(Payload):
    """Course settings changed (PATCH): title, description, capacity, window, archive/restore.
    Draft structure edits are not events: learners see them only through the next publish."""

    course_id: uuid.UUID
    instructor_id: uuid.UUID
    status: Literal["draft", "published", "archived"]
    changes: dict[str, Any] = Field(description="the changed fields and their new values")
    updated_at: datetime


class AssetCreated(Payload):
    """An upload was authorised (presigned POST issued); the object may not exist yet."""

    asset_id: uuid.UUID
    course_id: uuid.UUID
    s3_key: str
    filename: str
    content_type: str
    size_bytes: int


class AssetDeleted(Payload):
    asset_id: uuid.UUID
    course_id: uuid.UUID
    s3_key: str


class EnrollmentCreated(Payload):
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    enrolled_at: datetime


class EnrollmentCancelled(Payload):
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    cancelled_at: datetime


class LessonCompleted(Payload):
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    lesson_id: uuid.UUID
    completed_at: datetime


class CourseCompleted(Payload):
    """Written exactly once per enrollment, in the transaction that met the completion rule."""

    enrollment_id: uuid.UUID
    course_id: uuid.UUID
    course_version: int
    user_id: uuid.UUID
    completed_at: datetime


class AccountLinkRequested(Payload):
    """An account email to send: a password reset or an email verification link. Carries the
    link's id, never the link: NotificationsFunction signs the link from the id with the shared key
    (docs/accounts.md) and emails it to the account's address."""

    link_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


class PhoneVerificationRequested(Payload):
    """A phone verification code to text (PUT /me/phone). Carries the code's id, never the code
    nor the number: NotificationsFunction reads the number of the code's row (lms.phone_codes),
    derives the 6 digits from the id with the shared key (docs/accounts.md) and texts them."""

    code_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


class UserDeleted(Payload):
    """The account was deleted by its owner (DELETE /me): the LMS has anonymised its rows; every
    other service erases what it holds about `user_id` (the AI side its conversations, notifications
    its inbox, preferences and emails). `certificates`: what the holder chose for theirs."""

    user_id: uuid.UUID
    deleted_at: datetime
    certificates: Literal["keep", "withdraw"]


# name -> (aggregate type = topic suffix and Kafka key owner, payload model)
EVENTS: dict[str, tuple[str, type[Payload]]] = {
    "course.published": ("course", CoursePublished),
    "course.updated": ("course", CourseUpdated),
    "asset.created": ("asset", AssetCreated),
    "asset.deleted": ("asset", AssetDeleted),
    "enrollment.created": ("enrollment", EnrollmentCreated),
    "enrollment.cancelled": ("enrollment", EnrollmentCancelled),
    "lesson.completed": ("enrollment", LessonCompleted),
    "course.completed": ("enrollment", CourseCompleted),
    "user.password_reset_requested": ("user", AccountLinkRequested),
    "user.email_verification_requested": ("user", AccountLinkRequested),
    "user.phone_verification_requested": ("user", PhoneVerificationRequested),
    "user.deleted": ("user", UserDeleted),
}


def validate(name: str, aggregate_type: str, data: dict[str, Any]) -> None:
    """Raises if an event does not match its documented shape (a bug: never reaches the outbox)."""
    expected_type, model = EVENTS[name]
    if aggregate_type != expected_type:
        raise ValueError(f"{name} belongs to aggregate {expected_type}, not {aggregate_type}")
    model.model_validate(data)


def schema_json(name: str) -> str:
    return json.dumps(EVENTS[name][1].model_json_schema(), indent=2, sort_keys=True)


def catalogue_markdown() -> str:
    """The per-event sections of docs/events.md (`python -m smartcourse.lms.event_schemas`)."""
    out = []
    for name, (aggregate, model) in EVENTS.items():
        doc = " ".join((model.__doc__ or "").split())
        out += [f"### `{name}`", "",
                f"- type: `smartcourse.{name}.v1`; aggregate: `{aggregate}` (Kafka key: the {aggregate} id); "
                f"topic: `<prefix>.{aggregate}`",
                *([f"- {doc}"] if doc else []), "",
                "```json", schema_json(name), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(catalogue_markdown())
