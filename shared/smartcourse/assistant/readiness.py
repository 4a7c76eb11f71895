"""What the AI side has made of a course (adapter: SQL, read-only): the live version the assistant
answers from (`ai.course_live_versions`) and the current document status of assets
(`ai.asset_index_status`: the most recently arrived object of each asset, purged ones left out)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg


def live_version(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> int | None:
    row = conn.execute("SELECT version FROM ai.course_live_versions WHERE course_id = %s", (course_id,)).fetchone()
    return int(row["version"]) if row is not None else None


def document_statuses(conn: psycopg.Connection[Any], asset_ids: Sequence[uuid.UUID]) -> list[str | None]:
    """The current document status of each asset, in order (None: no document yet); assets the AI
    side purged (`ai.deleted_assets`) are left out."""
    if not asset_ids:
        return []
    rows = conn.execute(
        "SELECT a.id AS asset_id, s.status "
        "FROM unnest(%s::uuid[]) WITH ORDINALITY AS a(id, pos) "
        "LEFT JOIN ai.asset_index_status s ON s.asset_id = a.id "
        "WHERE NOT EXISTS (SELECT 1 FROM ai.deleted_assets d WHERE d.asset_id = a.id) "
        "ORDER BY a.pos",
        (list(asset_ids),),
    ).fetchall()
    return [r["status"] for r in rows]
