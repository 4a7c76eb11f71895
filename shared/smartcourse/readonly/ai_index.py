"""LMS -> AI, read-only: the indexing status of assets, from the view ai.asset_index_status."""

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
