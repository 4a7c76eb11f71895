"""AI -> LMS, read-only: the LMS facts the AI side needs, by name.

The AI side never writes lms.* and never reads it anywhere else. Facts used by ingestion:
- `asset(conn, asset_id)`: what the instructor declared for an upload (course, filename, content
  type, size) and whether the asset was deleted; ingestion checks the real S3 object against it.
- `course_assets(conn, course_id)`: the course's current (not deleted) assets, for `reindex`.
- `published_version(conn, course_id)`: the course's published version number, if any.
- `course_ids_with_assets(conn)`: every course that has assets, for `reindex --all`.

Functions take a psycopg connection (dict or tuple rows) and return frozen dataclasses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

_ASSET_COLUMNS = ("id", "course_id", "filename", "content_type", "size_bytes", "s3_key", "deleted_at")


@dataclass(frozen=True, slots=True)
class AssetFacts:
    id: uuid.UUID
    course_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    s3_key: str
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def _row(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    return dict(row) if isinstance(row, dict) else dict(zip(columns, row, strict=True))


def _asset(row: Any) -> AssetFacts:
    r = _row(row, _ASSET_COLUMNS)
    return AssetFacts(r["id"], r["course_id"], r["filename"], r["content_type"], int(r["size_bytes"]),
                      r["s3_key"], r["deleted_at"])


def asset(conn: psycopg.Connection[Any], asset_id: uuid.UUID) -> AssetFacts | None:
    """The asset as the LMS declared it (deleted ones included), or None if unknown."""
    row = conn.execute(
        "SELECT id, course_id, filename, content_type, size_bytes, s3_key, deleted_at "
        "FROM lms.assets WHERE id = %s",
        (asset_id,),
    ).fetchone()
    return _asset(row) if row is not None else None


def course_assets(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> list[AssetFacts]:
    """The course's assets that are not deleted, oldest first."""
    rows = conn.execute(
        "SELECT id, course_id, filename, content_type, size_bytes, s3_key, deleted_at "
        "FROM lms.assets WHERE course_id = %s AND deleted_at IS NULL ORDER BY created_at, id",
        (course_id,),
    ).fetchall()
    return [_asset(r) for r in rows]


def published_version(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> int | None:
    row = conn.execute("SELECT published_version FROM lms.courses WHERE id = %s", (course_id,)).fetchone()
    if row is None:
        return None
    value = _row(row, ("published_version",))["published_version"]
    return int(value) if value is not None else None


def course_ids_with_assets(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT DISTINCT course_id FROM lms.assets WHERE deleted_at IS NULL ORDER BY course_id"
    ).fetchall()
    return [_row(r, ("course_id",))["course_id"] for r in rows]
