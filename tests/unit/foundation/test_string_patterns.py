"""The OpenAPI document states the string rules as patterns (`smartcourse.strings`): each pattern
must accept exactly what its check accepts, or a client is told a value is valid that the API
refuses (or the reverse)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from smartcourse.strings import (
    EMAIL_PATTERN,
    LINE_PATTERN,
    NON_BLANK_LINE_PATTERN,
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
    check_line,
    check_text,
    media_type_pattern,
    text_of_at_least,
)


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

    assert all(is_valid_jsonschema_rs_regex(p) for p in (LINE_PATTERN, TEXT_PATTERN, NON_BLANK_LINE_PATTERN,
                                                         NON_BLANK_TEXT_PATTERN, text_of_at_least(3), EMAIL_PATTERN,
                                                         media_type_pattern(["text/markdown", "a.b"])))


# Short strings over an alphabet of the characters the rules turn on: the document's constraints
# for a field (length, pattern) and the model's validation agree on every one, exhaustively.
ALPHABET = "a@. \t\u2003\x07"   # a letter, the email's marks, white space (two kinds), a control


def _strings(up_to: int, alphabet: str = ALPHABET) -> list[str]:
    return ["".join(p) for n in range(up_to + 1) for p in itertools.product(alphabet, repeat=n)]


def _around(cores: list[str]) -> list[str]:
    edges = _strings(2)
    return [a + core + b for core in cores for a in edges for b in edges]


def _disagreements(model: type[BaseModel], name: str, values: list[str], others: dict[str, Any]) -> list[str]:
    prop = model.model_json_schema()["properties"][name]
    rx = re.compile(prop["pattern"])

    def documented(v: str) -> bool:
        return prop.get("minLength", 0) <= len(v) <= prop.get("maxLength", 10**9) and bool(rx.fullmatch(v))

    def validates(v: str) -> bool:
        try:
            model.model_validate({**others, name: v})
        except ValidationError:
            return False
        return True

    return [v for v in values if documented(v) != validates(v)]


def test_the_email_pattern_states_the_email_rule() -> None:
    # Requests are stripped before they are checked: the pattern allows the white space around
    # the value that stripping removes, and no more. About 137,000 strings.
    from smartcourse.lms.schemas import LoginRequest

    assert _disagreements(LoginRequest, "email", _strings(6), {"password": "x"}) == []


def test_the_password_patterns_state_the_stripped_minimum() -> None:
    from smartcourse.lms.schemas import LoginRequest, RegisterRequest

    assert _disagreements(LoginRequest, "password", _strings(5), {"email": "a@b.co"}) == []
    cores = ["aaaaaaa", "aaaaaaaa", "aaaaaaaaa", "aaaa aaaa", "a\u2003aaaaaaa"]   # 7-9 characters
    assert _disagreements(RegisterRequest, "password", _around(cores),
                          {"email": "a@b.co", "name": "N"}) == []


def test_the_revocation_reason_pattern_states_its_minimum() -> None:
    # Three characters once white space is collapsed; any longer value is cut by maxLength.
    from smartcourse.certificates.schemas import RevokeRequest

    assert _disagreements(RevokeRequest, "reason", _strings(5), {}) == []


def test_a_question_needs_one_character_that_is_not_white_space() -> None:
    from smartcourse.assistant.schemas import AskBody

    rx = re.compile(AskBody.model_json_schema()["properties"]["question"]["pattern"])
    assert rx.fullmatch("Why?\n\tAnd how?") and rx.fullmatch(" x ")
    assert not any(rx.fullmatch(blank) for blank in ("", " ", "\n\t", "\u3000", "a\x07b"))


def test_the_content_type_pattern_names_exactly_the_accepted_media_types() -> None:
    # What the document allows is what create_asset accepts: the model's checks, then the media
    # type the service reads (before ";", stripped, lower-cased) among the accepted ones.
    from smartcourse.lms import domain
    from smartcourse.lms.schemas import CreateAssetRequest

    prop = CreateAssetRequest.model_json_schema()["properties"]["content_type"]
    rx = re.compile(prop["pattern"])

    def accepted(value: str) -> bool:
        try:
            req = CreateAssetRequest.model_validate({"filename": "f", "size": 1, "content_type": value})
        except ValidationError:
            return False
        return domain.media_type(req.content_type) is not None

    cases = _around(["text/vtt", "TEXT/VTT", "tExt/Vtt; a=b", "text/vtt ;", "text/vt", "text/vttx", "text/vtt;\x07",
                     "text/mar\u212adown", "text/mar\u212adow", "application/pdf", "application/pd"])
    cases += [f"text/vtt{sep};x" for sep in (" ", "\t", "\u2003", "\u202e", "")]
    cases += [f"text/v{chr(cp)}t" for cp in CODE_POINTS[::3]]    # every third code point in a name
    assert [v for v in cases if bool(rx.fullmatch(v)) != accepted(v)] == []
