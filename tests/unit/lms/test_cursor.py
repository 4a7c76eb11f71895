"""Listing cursors: a position (timestamp, row id) in 32 base64url characters; every string of that
shape is a position, anything else is a 400 naming `cursor`."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from smartcourse.cursor import decode_cursor, encode_cursor
from smartcourse.errors import BadRequest
from smartcourse.lms import schemas as s


def test_a_cursor_gives_back_the_position_it_was_made_from() -> None:
    at, row = datetime(2026, 12, 6, 5, 4, 3, 123456, tzinfo=UTC), uuid.uuid4()
    cursor = encode_cursor(at, row)
    assert re.fullmatch(s.CURSOR_PATTERN, cursor)
    assert decode_cursor(cursor) == (at, row)


@pytest.mark.parametrize("cursor", ["A" * 32, "_" * 32, "-" * 32, "z9" * 16])
def test_every_string_of_the_documented_shape_is_a_position(cursor: str) -> None:
    # (the extremes are clamped to what a datetime holds rather than refused)
    ts, row = decode_cursor(cursor) or (None, None)
    assert isinstance(ts, datetime) and isinstance(row, uuid.UUID)


@pytest.mark.parametrize("cursor", ["", "garbage", "A" * 31, "A" * 33, "A" * 31 + "=", "Ä" * 32])
def test_anything_else_is_a_bad_request_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as err:
        decode_cursor(cursor)
    assert err.value.details[0].field == "cursor"
