"""Ingestion's domain rules, in plain Python: no S3, SQL or Kafka here.

- Asset object keys: ``courses/{course_id}/assets/{asset_id}/{filename}``.
- S3 notification records -> `ObjectChange` (keys URL-decoded with ``unquote_plus``).
- MSK event payloads -> `CoursePublished` / `AssetDeleted` (validated).
- `check_object`: the arrived object against what the LMS declared (course, key, size, type) and the
  configured maximum; `check_format`: the detected document format against the declared type.
  Each returns a `Rejection` (stable code + readable reason) or None.

Rejections are deterministic: the same object and declaration give the same answer, so the
document is recorded as failed and the event is not retried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from smartcourse.ai.extract import CONTENT_TYPES, DocumentFormat

_MIB = 1024 * 1024


class InvalidAssetKey(ValueError):
    """An object key outside the ``courses/{course_id}/assets/{asset_id}/{filename}`` layout."""


@dataclass(frozen=True, slots=True)
class AssetKey:
    course_id: uuid.UUID
    asset_id: uuid.UUID
    filename: str
    key: str


#: S3's own limit on a key (UTF-8 bytes).
MAX_KEY_BYTES = 1024
_KEY_CONTROLS = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))


def parse_asset_key(key: str) -> AssetKey:
    """The ids in an asset object key. Keys the LMS cannot have written (control characters,
    ``.``/``..`` or empty segments in the file name, over S3's 1024 bytes) are `InvalidAssetKey`."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidAssetKey(f"object key is longer than {MAX_KEY_BYTES} bytes")
    if any(ch in _KEY_CONTROLS for ch in key):
        raise InvalidAssetKey(f"object key {key!r} contains control characters")
    parts = key.split("/", 4)
    if len(parts) != 5 or parts[0] != "courses" or parts[2] != "assets" or not parts[4]:
        raise InvalidAssetKey(f"object key {key!r} is not courses/<course_id>/assets/<asset_id>/<filename>")
    try:
        course_id, asset_id = uuid.UUID(parts[1]), uuid.UUID(parts[3])
    except ValueError:
        raise InvalidAssetKey(f"object key {key!r} does not carry course and asset ids") from None
    if any(segment in ("", ".", "..") for segment in parts[4].replace("\\", "/").split("/")):
        raise InvalidAssetKey(f"object key {key!r} has an empty, '.' or '..' segment in its file name")
    return AssetKey(course_id, asset_id, parts[4], key)


def asset_key(course_id: uuid.UUID, asset_id: uuid.UUID, filename: str) -> str:
    return f"courses/{course_id}/assets/{asset_id}/{filename}"


# --------------------------------------------------------------------------- S3 notifications


@dataclass(frozen=True, slots=True)
class ObjectChange:
    kind: Literal["created", "removed"]
    event_name: str
    bucket: str
    key: str  # decoded
    size: int | None
    etag: str | None
    sequencer: str | None


def parse_s3_event(event: dict[str, Any]) -> list[ObjectChange]:
    """Records of an S3 notification event (direct, or as relayed through SQS/SNS bodies)."""
    changes: list[ObjectChange] = []
    for record in event.get("Records") or []:
        name = str(record.get("eventName", ""))
        s3 = record.get("s3") or {}
        obj = s3.get("object") or {}
        if not name.startswith(("ObjectCreated", "ObjectRemoved")) or "key" not in obj:
            continue  # e.g. s3:TestEvent, replication or lifecycle events
        changes.append(ObjectChange(
            kind="created" if name.startswith("ObjectCreated") else "removed",
            event_name=name,
            bucket=str((s3.get("bucket") or {}).get("name", "")),
            key=unquote_plus(str(obj["key"])),
            size=_int_or_none(obj.get("size")),
            etag=_clean_etag(obj.get("eTag")),
            sequencer=obj.get("sequencer"),
        ))
    return changes


def _int_or_none(value: Any) -> int | None:
    """A record's declared size; a malformed one is unknown (the object's HEAD is what counts)."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _clean_etag(etag: Any) -> str | None:
    return str(etag).strip('"') if etag else None


# --------------------------------------------------------------------------- MSK payloads


class PublishedAsset(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    asset_id: uuid.UUID
    s3_key: str = Field(min_length=1)
    filename: str = ""
    content_type: str = ""
    size_bytes: int | None = None


class CoursePublished(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    course_id: uuid.UUID
    version: int = Field(gt=0)
    title: str = ""
    published_at: datetime | None = None
    assets: list[PublishedAsset] = Field(default_factory=list)


class AssetDeleted(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    asset_id: uuid.UUID
    course_id: uuid.UUID | None = None
    s3_key: str | None = None


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Declared:
    """What the LMS recorded when the upload was requested."""

    course_id: uuid.UUID
    s3_key: str
    content_type: str
    size_bytes: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What S3 says about the object that arrived (HEAD)."""

    size: int
    content_type: str | None
    etag: str


#: Declared media type -> document formats the bytes may turn out to be. The media types are the
#: extractor's own table (one list of what can be indexed); each accepts the format it names,
#: Markdown may also read as plain text, and text/plain (what browsers send for .md, .vtt and .srt)
#: any text format.
_TEXT_FORMATS = frozenset({"text", "markdown", "html", "vtt", "srt"})
_ALSO_ACCEPTED: dict[DocumentFormat, frozenset[str]] = {
    DocumentFormat.MARKDOWN: frozenset({"text"}),
    DocumentFormat.TEXT: _TEXT_FORMATS,
}
ACCEPTED_TYPES: dict[str, frozenset[str]] = {
    media: frozenset({fmt.value}) | _ALSO_ACCEPTED.get(fmt, frozenset()) for media, fmt in CONTENT_TYPES.items()
}
#: Object content types that say nothing (clients that send no type get one of these).
_GENERIC_TYPES = frozenset({"binary/octet-stream", "application/octet-stream"})


def media_type(content_type: str | None) -> str | None:
    """``"text/html; charset=utf-8"`` -> ``"text/html"``; None for an empty value."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _mib(n: int) -> str:
    return f"{n / _MIB:.1f} MiB" if n >= _MIB else f"{n:,} bytes"


def check_object(key: AssetKey, declared: Declared | None, actual: ObjectInfo, *, max_bytes: int) -> Rejection | None:
    """The arrived object against the LMS declaration and the size limit (before download)."""
    if declared is None:
        return Rejection("unknown_asset", f"no asset {key.asset_id} is registered in the LMS for this upload")
    if declared.deleted:
        return Rejection("asset_deleted", "the asset was deleted before its upload could be processed")
    if declared.course_id != key.course_id:
        return Rejection("course_mismatch",
                         f"the object was uploaded under course {key.course_id}, "
                         f"but the asset belongs to course {declared.course_id}")
    if declared.s3_key != key.key:
        return Rejection("key_mismatch",
                         f"the object was written under {key.key!r}, not under the key the LMS issued for "
                         f"this asset ({declared.s3_key!r})")
    if actual.size == 0:
        return Rejection("empty_document", "the uploaded file is empty")
    if actual.size > max_bytes:
        return Rejection("document_too_large",
                         f"the file is {_mib(actual.size)}; the limit is {_mib(max_bytes)}")
    if actual.size > declared.size_bytes:
        return Rejection("size_mismatch",
                         f"the uploaded file is {actual.size:,} bytes but the upload declared "
                         f"{declared.size_bytes:,} bytes")
    declared_type = media_type(declared.content_type)
    if declared_type not in ACCEPTED_TYPES:
        return Rejection("unsupported_format",
                         f"files of type {declared.content_type or 'unknown'} cannot be indexed; "
                         "upload PDF, Word (.docx), PowerPoint (.pptx), HTML, Markdown, text, WebVTT or SRT")
    object_type = media_type(actual.content_type)
    if object_type is not None and object_type not in _GENERIC_TYPES and object_type != declared_type:
        return Rejection("content_type_mismatch",
                         f"the file was uploaded as {object_type} but declared as {declared_type}")
    return None


def check_format(declared_type: str, detected: str) -> Rejection | None:
    """The format found in the bytes against the declared content type (after extraction)."""
    accepted = ACCEPTED_TYPES.get(media_type(declared_type) or "")
    if accepted is None or detected in accepted:
        return None
    return Rejection("content_type_mismatch",
                     f"the file was declared as {media_type(declared_type)} but its content is {detected.upper()}")
