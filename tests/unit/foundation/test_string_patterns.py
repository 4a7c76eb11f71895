"""The OpenAPI document states the string rules as patterns (`smartcourse.strings`): each pattern
must accept exactly what its check accepts, or a client is told a value is valid that the API
refuses (or the reverse)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from smartcourse.strings import LINE_PATTERN, NON_BLANK_LINE_PATTERN, TEXT_PATTERN, check_line, check_text


def _accepts(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


# every code point, once, between two letters (sampling every 7th outside the BMP keeps it quick);
# lone surrogates aside (the patterns cannot name them; check_line and check_text refuse them)
CODE_POINTS = [cp for cp in (*range(0x10000), *range(0x10000, 0x110000, 7)) if not 0xD800 <= cp <= 0xDFFF]


@pytest.mark.parametrize(("pattern", "check"), [(LINE_PATTERN, check_line), (TEXT_PATTERN, check_text)],
                         ids=["line", "text"])
def test_the_pattern_accepts_exactly_what_the_check_accepts(pattern: str, check: Callable[[str], str]) -> None:
    rx = re.compile(pattern)
    differ = [hex(cp) for cp in CODE_POINTS
              if bool(rx.fullmatch(f"a{chr(cp)}b")) != _accepts(check, f"a{chr(cp)}b")]
    assert differ == []


def test_a_non_blank_line_needs_one_character_that_is_not_white_space() -> None:
    rx = re.compile(NON_BLANK_LINE_PATTERN)
    assert rx.fullmatch("a") and rx.fullmatch(" Intro ") and rx.fullmatch("\u00a0x")
    for blank in ("", " ", "\u3000", "\u00a0 \u2003"):
        assert not rx.fullmatch(blank) and not blank.strip()  # stripped, these are empty
    assert not rx.fullmatch("a\nb") and not rx.fullmatch("a\u202eb")  # and it is a line


def test_json_schema_validators_can_compile_the_patterns() -> None:
    # Schemathesis (and any validator on Rust's regex) drops a pattern it cannot compile, and then
    # generates exactly the values the API refuses.
    from schemathesis.specs.openapi.converter import is_valid_jsonschema_rs_regex

    assert all(is_valid_jsonschema_rs_regex(p) for p in (LINE_PATTERN, TEXT_PATTERN, NON_BLANK_LINE_PATTERN))
