"""Strict request JSON (`smartcourse.http.parse_json`) and the string rules (`smartcourse.strings`)."""

from __future__ import annotations

import pytest

from smartcourse.errors import BadRequest
from smartcourse.http import parse_json
from smartcourse.strings import check_line, check_text


def _problem(raw: bytes | str) -> tuple[str, str]:
    with pytest.raises(BadRequest) as info:
        parse_json(raw)
    assert info.value.status == 400
    (detail,) = info.value.details
    return detail.field, detail.problem


def test_valid_json_parses() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize(("raw", "field", "fragment"), [
    (b'{"title": "a", "title": "b"}', "title", "duplicate key"),
    (b'{"outer": {"k": 1, "k": 2}}', "k", "duplicate key"),
    (b"[" * 50_000 + b"]" * 50_000, "body", "nested too deeply"),
    (b'{"n": 1e999999}', "body", "out of range"),
    (b'{"n": -Infinity}', "body", "not JSON"),
    (b'{"n": NaN}', "body", "not JSON"),
    (b'{"n": ' + b"1" * 5000 + b"}", "body", "digits"),
    (b'{"t": "\xff"}', "body", "not UTF-8"),
    (b'{"t": "a\x00b"}', "body", "Invalid control character"),
    (b'{"t": 1} trailing', "body", "Extra data"),
])
def test_hostile_json_is_a_bad_request_naming_the_problem(raw: bytes, field: str, fragment: str) -> None:
    got_field, problem = _problem(raw)
    assert got_field == field
    assert fragment in problem


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "esc \x1b[31m", "del \x7f", "c1 \x85"])
def test_text_refuses_nul_surrogates_and_controls(value: str) -> None:
    with pytest.raises(ValueError):
        check_text(value)


def test_text_keeps_tabs_newlines_and_bidi_text() -> None:
    value = "line one\n\tline two\r\n\u05e9\u05dc\u05d5\u05dd \u202bembedded\u202c"
    assert check_text(value) == value


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "gpj.\u202eexe", "x\u2066y", "a\u200fb", "\x00"])
def test_line_refuses_breaks_controls_and_bidi_overrides(value: str) -> None:
    with pytest.raises(ValueError):
        check_line(value)


def test_line_keeps_ordinary_unicode() -> None:
    assert check_line("Cours d'été: 数据库 (part 1)") == "Cours d'été: 数据库 (part 1)"
