"""docs/events.md carries each LMS event's JSON Schema exactly as the payload models define it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from smartcourse.lms import event_schemas
from tests.conftest import ROOT


def test_events_doc_has_the_current_schema_of_every_event() -> None:
    doc = (ROOT / "docs" / "events.md").read_text()
    for name in event_schemas.EVENTS:
        assert f"### `{name}`" in doc, name
        assert event_schemas.schema_json(name) in doc, f"docs/events.md is stale for {name}: regenerate it"


def test_payloads_are_checked_against_their_model_and_aggregate() -> None:
    data = {"enrollment_id": str(uuid.uuid4()), "course_id": str(uuid.uuid4()), "course_version": 1,
            "user_id": str(uuid.uuid4()), "completed_at": datetime.now(UTC).isoformat()}
    event_schemas.validate("course.completed", "enrollment", data)
    with pytest.raises(ValueError, match="aggregate enrollment"):
        event_schemas.validate("course.completed", "course", data)
    with pytest.raises(ValidationError):
        event_schemas.validate("course.completed", "enrollment", {**data, "undocumented": 1})
