"""AI -> LMS, read-only: the LMS facts the AI side needs, by name.

The AI side never writes lms.* and never reads it anywhere else. Facts used by ingestion:
- `asset(conn, asset_id)`: what the instructor declared for an upload (course, filename, content
  type, size) and whether the asset was deleted; ingestion checks the real S3 object against it.
- `course_assets(conn, course_id)`: the course's current (not deleted) assets, for `reindex`.
- `published_version(conn, course_id)`: the course's published version number, if any.
- `course_ids_with_assets(conn)`: every course that has assets, for `reindex --all`.
- `unindexed_assets(conn, ...)`: the reconciliation sweeper's candidates: declared, not deleted
  assets (created in a time window) that have no AI document, least recently checked first (an
  asset checked without finding its object is looked at again once per grace period).
- `published_versions_not_live(conn, ...)`: courses whose published version (older than the grace
  period) is ahead of the AI side's live version, with that version's asset list, oldest first.
- `deleted_assets_not_purged(conn, ...)`: assets the LMS deleted (over ``grace_s`` ago) that the
  AI side has not purged (its ``asset.deleted`` was lost), oldest first.
  (These three compare LMS facts with the AI side's own tables, so they read ``ai.*`` as well.)
- `event_id(conn, event_type, aggregate_id, ...)`: the id of an event the LMS wrote (outbox or its
  archive), so a sweep doing that event's work records it as processed (a late copy is a no-op).

Functions take a psycopg connection with dict rows (as `smartcourse.db.Database` opens them) and
return frozen dataclasses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


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


def _asset(r: dict[str, Any]) -> AssetFacts:
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
    value = row["published_version"]
    return int(value) if value is not None else None


def course_ids_with_assets(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    rows = conn.execute(
        "SELECT DISTINCT course_id FROM lms.assets WHERE deleted_at IS NULL ORDER BY course_id"
    ).fetchall()
    return [r["course_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class UnindexedAsset:
    asset_id: uuid.UUID
    course_id: uuid.UUID
    s3_key: str
    created_at: datetime


def unindexed_assets(conn: psycopg.Connection[Any], *, grace_s: float, window_s: float,
                     limit: int) -> list[UnindexedAsset]:
    """Assets created between ``window_s`` and ``grace_s`` seconds ago, not deleted (LMS or AI side),
    without any AI document, not checked in the last ``grace_s`` seconds; never-checked first, then
    least recently checked, oldest first."""
    rows = conn.execute(
        """
        SELECT a.id, a.course_id, a.s3_key, a.created_at
          FROM lms.assets a
          LEFT JOIN ai.sweeper_asset_checks chk ON chk.asset_id = a.id
         WHERE a.deleted_at IS NULL
           AND a.created_at < now() - make_interval(secs => %s)
           AND a.created_at > now() - make_interval(secs => %s)
           AND NOT EXISTS (SELECT 1 FROM ai.documents d WHERE d.asset_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM ai.deleted_assets x WHERE x.asset_id = a.id)
           AND (chk.last_checked_at IS NULL OR chk.last_checked_at < now() - make_interval(secs => %s))
         ORDER BY chk.last_checked_at ASC NULLS FIRST, a.created_at, a.id
         LIMIT %s
        """,
        (grace_s, window_s, grace_s, limit),
    ).fetchall()
    return [UnindexedAsset(*_values(r, ("id", "course_id", "s3_key", "created_at"))) for r in rows]


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    course_id: uuid.UUID
    version: int
    published_at: datetime
    live_version: int | None
    assets: list[dict[str, Any]]  # the version snapshot's asset list, as course.published carries it


def published_versions_not_live(conn: psycopg.Connection[Any], *, grace_s: float,
                                limit: int) -> list[PublishedVersion]:
    """Courses whose published version was published over ``grace_s`` seconds ago and is newer than
    the AI side's live version (or the AI side has none), oldest publication first."""
    rows = conn.execute(
        """
        SELECT c.id, c.published_version, v.published_at, l.version AS live_version,
               coalesce(v.snapshot -> 'assets', '[]'::jsonb) AS assets
          FROM lms.courses c
          JOIN lms.course_versions v ON v.course_id = c.id AND v.version = c.published_version
          LEFT JOIN ai.course_live_versions l ON l.course_id = c.id
         WHERE c.published_version IS NOT NULL
           AND v.published_at < now() - make_interval(secs => %s)
           AND (l.version IS NULL OR l.version < c.published_version)
         ORDER BY v.published_at, c.id
         LIMIT %s
        """,
        (grace_s, limit),
    ).fetchall()
    out = []
    for r in rows:
        course_id, version, published_at, live, assets = _values(
            r, ("id", "published_version", "published_at", "live_version", "assets"))
        out.append(PublishedVersion(course_id, int(version), published_at,
                                    int(live) if live is not None else None, list(assets or [])))
    return out


def _values(row: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


@dataclass(frozen=True, slots=True)
class DeletedAsset:
    asset_id: uuid.UUID
    course_id: uuid.UUID
    s3_key: str
    deleted_at: datetime


def deleted_assets_not_purged(conn: psycopg.Connection[Any], *, grace_s: float, limit: int) -> list[DeletedAsset]:
    rows = conn.execute(
        """
        SELECT a.id, a.course_id, a.s3_key, a.deleted_at
          FROM lms.assets a
         WHERE a.deleted_at IS NOT NULL
           AND a.deleted_at < now() - make_interval(secs => %s)
           AND NOT EXISTS (SELECT 1 FROM ai.deleted_assets x WHERE x.asset_id = a.id)
         ORDER BY a.deleted_at, a.id
         LIMIT %s
        """,
        (grace_s, limit),
    ).fetchall()
    return [DeletedAsset(*_values(r, ("id", "course_id", "s3_key", "deleted_at"))) for r in rows]


def event_id(conn: psycopg.Connection[Any], event_type: str, aggregate_id: uuid.UUID, *,
             data_key: str | None = None, data_value: str | None = None) -> uuid.UUID | None:
    """The latest LMS event of this type for the aggregate (optionally with ``data[data_key] ==
    data_value``), from the outbox or its archive; None if retention removed it."""
    from psycopg import sql

    for table in ("outbox", "outbox_archive"):
        query = sql.SQL("SELECT id FROM {} WHERE aggregate_id = %s AND event_type = %s "
                        "AND (%s::text IS NULL OR payload -> 'data' ->> %s::text = %s) "
                        "ORDER BY seq DESC LIMIT 1").format(sql.Identifier("lms", table))
        row = conn.execute(query, (str(aggregate_id), event_type, data_key, data_key, data_value)).fetchone()
        if row is not None:
            value: uuid.UUID = row["id"]
            return value
    return None
