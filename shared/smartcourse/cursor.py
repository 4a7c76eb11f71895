"""Keyset pagination cursors, shared by every listing of the API (newest first on (created_at, id)).

A cursor is a position in a listing: (timestamp in microseconds since 1970, signed; row id), 24
bytes, base64url without padding = 32 characters (CURSOR_PATTERN, which the OpenAPI document
states). Every string of that shape is a position (one past every row, or before them all, lists
nothing more or everything); any other string is 400 naming `cursor`.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from datetime import UTC, datetime, timedelta

from smartcourse.errors import BadRequest, FieldProblem

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
_CURSOR = struct.Struct(">q16s")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = timedelta(microseconds=1)
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICROS
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROS


def encode_cursor(ts: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(_CURSOR.pack((ts - _EPOCH) // _MICROS, row_id.bytes)).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadRequest("the cursor is not valid", details=[FieldProblem("cursor", "not a cursor from this API")])
    micros, raw = _CURSOR.unpack(base64.urlsafe_b64decode(cursor))
    return _EPOCH + min(max(micros, _MIN_MICROS), _MAX_MICROS) * _MICROS, uuid.UUID(bytes=raw)
