"""LMS and notifications -> AI, read-only: the indexing status of assets (the view
ai.asset_index_status), and the documents that failed (ai.documents), for the instructors'
notifications."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class IndexStatus:
    status: str
    error_code: str | None
    error: str | None
    updated_at: datetime


def asset_statuses(conn: psycopg.Connection[Any], asset_ids: list[uuid.UUID]) -> dict[uuid.UUID, IndexStatus]:
    if not asset_ids:
        return {}
    rows = conn.execute(
        "SELECT asset_id, status, error_code, error, updated_at FROM ai.asset_index_status WHERE asset_id = ANY(%s)",
        (asset_ids,),
    ).fetchall()
    out = {}
    for r in rows:
        out[r["asset_id"]] = IndexStatus(r["status"], r["error_code"], r["error"], r["updated_at"])
    return out


@dataclass(frozen=True, slots=True)
class FailedDocument:
    id: uuid.UUID
    asset_id: uuid.UUID
    course_id: uuid.UUID
    error_code: str | None
    error: str | None
    updated_at: datetime


def failed_documents_since(conn: psycopg.Connection[Any], since: datetime, limit: int,
                           after_id: uuid.UUID | None = None) -> list[FailedDocument]:
    """Documents that ended failed at or after ``since`` (after (``since``, ``after_id``) when
    paging), oldest first."""
    rows = conn.execute("SELECT id, asset_id, course_id, error_code, error, updated_at FROM ai.documents "
                        "WHERE status = 'failed' AND (updated_at, id) > (%s, %s) ORDER BY updated_at, id LIMIT %s",
                        (since, after_id or uuid.UUID(int=0), limit)).fetchall()
    return [FailedDocument(**r) for r in rows]
