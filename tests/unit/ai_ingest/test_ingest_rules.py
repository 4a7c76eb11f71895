"""Ingestion's domain rules without services: keys, S3 records, declaration checks, formats."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from smartcourse.ai.assets import (
    CoursePublished,
    Declared,
    InvalidAssetKey,
    ObjectInfo,
    asset_key,
    check_format,
    check_object,
    parse_asset_key,
    parse_s3_event,
)

COURSE, ASSET = uuid.uuid4(), uuid.uuid4()
KEY = parse_asset_key(asset_key(COURSE, ASSET, "notes.pdf"))
MIB = 1024 * 1024


def declared(**kw: object) -> Declared:
    base: dict[str, object] = {"course_id": COURSE, "s3_key": KEY.key, "content_type": "application/pdf",
                               "size_bytes": 5000, "deleted": False}
    return Declared(**{**base, **kw})  # type: ignore[arg-type]


def info(size: int = 4000, content_type: str | None = "application/pdf") -> ObjectInfo:
    return ObjectInfo(size=size, content_type=content_type, etag="abc")


def test_asset_keys_round_trip_and_keep_slashes_in_file_names() -> None:
    key = parse_asset_key(f"courses/{COURSE}/assets/{ASSET}/week 1/notes.pdf")
    assert (key.course_id, key.asset_id, key.filename) == (COURSE, ASSET, "week 1/notes.pdf")


@pytest.mark.parametrize("key", ["uploads/x.pdf", f"courses/{COURSE}/assets/not-a-uuid/x.pdf",
                                 f"courses/{COURSE}/assets/{ASSET}/", f"courses/{COURSE}/files/{ASSET}/x.pdf"])
def test_keys_outside_the_layout_are_rejected(key: str) -> None:
    with pytest.raises(InvalidAssetKey):
        parse_asset_key(key)


def test_s3_records_are_decoded_and_classified() -> None:
    event = {"Records": [
        {"eventName": "ObjectCreated:Post", "s3": {"bucket": {"name": "b"}, "object": {
            "key": f"courses/{COURSE}/assets/{ASSET}/Week+1+%28draft%29.pdf", "size": 12, "eTag": "\"e1\"",
            "sequencer": "01"}}},
        {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "courses/x"}}},
        {"eventName": "s3:TestEvent", "s3": {}},
    ]}
    created, removed = parse_s3_event(event)
    assert created.kind == "created" and created.key.endswith("/Week 1 (draft).pdf")
    assert (created.size, created.etag, created.sequencer) == (12, "e1", "01")
    assert removed.kind == "removed" and removed.size is None


def test_an_object_matching_its_declaration_passes() -> None:
    assert check_object(KEY, declared(), info(), max_bytes=50 * MIB) is None
    # Clients that send no type get a generic one: the bytes are checked after download instead.
    assert check_object(KEY, declared(), info(content_type="binary/octet-stream"), max_bytes=50 * MIB) is None


@pytest.mark.parametrize(("decl", "obj", "code"), [
    (None, info(), "unknown_asset"),
    (declared(deleted=True), info(), "asset_deleted"),
    (declared(course_id=uuid.uuid4()), info(), "course_mismatch"),
    (declared(), info(size=0), "empty_document"),
    (declared(size_bytes=80 * MIB), info(size=60 * MIB), "document_too_large"),
    (declared(), info(size=6000), "size_mismatch"),
    (declared(content_type="image/png"), info(content_type="image/png"), "unsupported_format"),
    (declared(), info(content_type="text/html"), "content_type_mismatch"),
])
def test_objects_that_do_not_match_their_declaration_are_rejected(decl: Declared | None, obj: ObjectInfo,
                                                                   code: str) -> None:
    rejection = check_object(KEY, decl, obj, max_bytes=50 * MIB)
    assert rejection is not None and rejection.code == code
    assert len(rejection.message) > 15


def test_the_size_reasons_name_both_sizes() -> None:
    too_big = check_object(KEY, declared(size_bytes=80 * MIB), info(size=60 * MIB), max_bytes=50 * MIB)
    assert too_big is not None and too_big.message == "the file is 60.0 MiB; the limit is 50.0 MiB"
    mismatch = check_object(KEY, declared(), info(size=6000), max_bytes=50 * MIB)
    assert mismatch is not None and "6,000 bytes" in mismatch.message and "5,000 bytes" in mismatch.message


@pytest.mark.parametrize(("declared_type", "detected", "ok"), [
    ("application/pdf", "pdf", True),
    ("text/plain", "markdown", True),  # browsers send text/plain for .md
    ("text/markdown; charset=utf-8", "text", True),
    ("text/markdown", "pdf", False),
    ("application/pdf", "html", False),
    ("text/vtt", "srt", False),
])
def test_the_detected_format_must_fit_the_declared_type(declared_type: str, detected: str, ok: bool) -> None:
    assert (check_format(declared_type, detected) is None) is ok


def test_course_published_payloads_are_validated() -> None:
    event = CoursePublished.model_validate({
        "course_id": str(COURSE), "version": 3, "title": "T", "instructor_id": str(uuid.uuid4()),
        "published_at": "2026-11-26T10:00:00Z", "lessons": [],
        "assets": [{"asset_id": str(ASSET), "s3_key": KEY.key, "filename": "notes.pdf",
                    "content_type": "application/pdf", "size_bytes": 10}]})
    assert event.version == 3 and event.assets[0].asset_id == ASSET
    with pytest.raises(ValidationError):
        CoursePublished.model_validate({"course_id": str(COURSE), "version": 0})
