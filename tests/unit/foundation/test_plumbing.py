"""Settings, typed errors, envelopes, migrations discovery."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from smartcourse.errors import ConfigurationError, Conflict, NotFound
from smartcourse.events import EventEnvelope, new_event, topic_for
from smartcourse.http import error_response
from smartcourse.migrate import MigrationError, discover
from smartcourse.settings import CommonSettings, KafkaSettings, load_settings


class _Needs(CommonSettings, KafkaSettings):
    assets_bucket: str


def test_missing_setting_fails_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSETS_BUCKET", raising=False)
    load_settings.cache_clear()
    with pytest.raises(ConfigurationError) as info:
        load_settings(_Needs)
    assert "ASSETS_BUCKET" in str(info.value) and "\n" not in str(info.value)


def test_malformed_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_BUCKET", "b")
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT", "soon")
    load_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="DATABASE_CONNECT_TIMEOUT"):
        load_settings(_Needs)
    load_settings.cache_clear()


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETS_BUCKET", "first")
    load_settings.cache_clear()
    assert load_settings(_Needs).assets_bucket == "first"
    monkeypatch.setenv("ASSETS_BUCKET", "second")
    assert load_settings(_Needs).assets_bucket == "first"
    load_settings.cache_clear()


def test_typed_errors_map_to_status_and_json_body() -> None:
    assert error_response(NotFound("course not found")) == (
        404, {"error": {"code": "not_found", "message": "course not found"}})
    assert error_response(Conflict("already enrolled"))[0] == 409
    status, body = error_response(RuntimeError("secret detail"))
    assert status == 500 and "secret" not in str(body)


def test_pydantic_errors_become_400_with_field_details() -> None:
    class Body(BaseModel):
        title: str

    with pytest.raises(ValidationError) as info:
        Body.model_validate({})
    status, body = error_response(info.value)
    assert status == 400
    assert body["error"]["details"] == [{"field": "title", "problem": "Field required"}]


def test_event_envelope_has_id_versioned_type_and_aggregate_key() -> None:
    ev = new_event("course.completed", "e-1", {"x": 1}, correlation_id="c", aggregate_type="enrollment")
    assert ev.type == "smartcourse.course.completed.v1" and ev.name == "course.completed" and ev.version == 1
    assert ev.aggregate_type == "enrollment" and ev.aggregate_id == "e-1"
    assert topic_for(ev.aggregate_type, "smartcourse.dev") == "smartcourse.dev.enrollment"
    again = EventEnvelope.model_validate_json(ev.model_dump_json())
    assert again == ev
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**ev.model_dump(), "type": "course.completed"})
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate({**ev.model_dump(), "id": str(uuid.uuid4()), "unknown": 1})


def test_migration_files_are_numbered_and_unique(tmp_path: Path) -> None:
    versions = [m.version for m in discover()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    (tmp_path / "0001_a.sql").write_text("select 1")
    (tmp_path / "bad name.sql").write_text("select 1")
    with pytest.raises(MigrationError, match=r"bad name\.sql"):
        discover(tmp_path)
