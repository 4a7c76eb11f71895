"""Rules for strings that come from callers (plain Python, no I/O).

- `check_text`: long free text (descriptions, lesson bodies, questions, comments) may hold tabs and
  line breaks, but no NUL (PostgreSQL text cannot store it), no other C0/C1 control character
  (terminal escapes such as ESC) and no lone UTF-16 surrogate (not encodable as UTF-8).
- `check_line`: one-line values (titles, names, emails, file names, content types) additionally
  refuse line breaks, tabs and the Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069,
  U+200E/U+200F, U+061C), which can make "gpj.exe" display as "exe.jpg".

- `check_email`: the loose shape of an email address accounts take.

Each raise ValueError with a readable problem; pydantic turns it into a field problem. The same
rules are stated as JSON Schema patterns for the OpenAPI document (below).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["BIDI_CONTROLS", "EMAIL_PATTERN", "LINE_PATTERN", "NON_BLANK_LINE_PATTERN", "NON_BLANK_TEXT_PATTERN",
           "TEXT_PATTERN", "check_email", "check_line", "check_text", "media_type_pattern", "text_of_at_least"]

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


# The same rules as JSON Schema patterns (ECMA-262 and Python `re` alike), for the OpenAPI document:
# a client, or a generator such as Schemathesis, learns what the validators refuse.
# tests/unit/foundation/test_string_patterns.py checks that each pattern accepts exactly what its check
# does, lone surrogates aside: they are not Unicode scalar values, so a JSON Schema regex cannot name
# them (validators built on Rust's regex refuse such a pattern) and valid JSON text cannot carry them.
_LINE_REFUSED = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TEXT_REFUSED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
LINE_PATTERN = rf"^[^{_LINE_REFUSED}]*$"
TEXT_PATTERN = rf"^[^{_TEXT_REFUSED}]*$"
#: A line with at least one character that is not white space (values are stripped before
#: their length is checked, so "   " is empty).
NON_BLANK_LINE_PATTERN = rf"^[^{_LINE_REFUSED}]*[^\s{_LINE_REFUSED}][^{_LINE_REFUSED}]*$"
#: Free text with at least one character that is not white space.
NON_BLANK_TEXT_PATTERN = rf"^[^{_TEXT_REFUSED}]*[^\s{_TEXT_REFUSED}][^{_TEXT_REFUSED}]*$"


def text_of_at_least(n: int) -> str:
    """Free text whose stripped form has at least n (>= 2) characters: its first and last
    characters that are not white space have n - 2 or more characters between them."""
    text, solid = f"[^{_TEXT_REFUSED}]", rf"[^\s{_TEXT_REFUSED}]"
    return f"^{text}*{solid}{text}{{{n - 2},}}{solid}{text}*$"


# An email address as accounts take it (after stripping and lower-casing): one "@" after a
# non-empty local part without "@", no space, and a domain with a dot that neither starts nor ends
# it. Deliberately loose (RFC 5321 addresses are checked by delivering to them), but a pattern, so
# the document can state it: EMAIL_PATTERN is the same rule with the white space a request may
# carry around the value (requests are stripped; the first and last characters of _EMAIL are not
# white space, as a stripped value's are, so that white space cannot be read as part of it).
_EMAIL = (rf"[^@\s{_LINE_REFUSED}][^@ {_LINE_REFUSED}]*"
          rf"@[^ .{_LINE_REFUSED}][^ {_LINE_REFUSED}]*\.[^ {_LINE_REFUSED}]*[^\s.{_LINE_REFUSED}]")
_EMAIL_RX = re.compile(_EMAIL)
EMAIL_PATTERN = rf"^\s*{_EMAIL}\s*$"


KELVIN = "\u212a"   # the one non-ASCII character whose lower() is an ASCII letter ("k")


def media_type_pattern(types: Iterable[str]) -> str:
    """A Content-Type value naming one of ``types`` as a request carries it: white space around it,
    any case (lower() maps only ASCII letters and the Kelvin sign U+212A onto ASCII letters), and
    parameters after ";" (the service reads the part before ";", stripped and lower-cased)."""
    def letter(ch: str) -> str:
        if not ch.isalpha():
            return "\\." if ch == "." else ch
        return f"[{ch}{ch.upper()}{KELVIN if ch == 'k' else ''}]"

    names = "|".join("".join(letter(ch) for ch in name) for name in sorted(types))
    return rf"^\s*(?:{names})(?:[^\S{_LINE_REFUSED}]*;[^{_LINE_REFUSED}]*)?\s*$"


def _common(value: str) -> None:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if _SURROGATE.search(value):
        raise ValueError("is not valid Unicode (lone surrogate)")


def check_text(value: str) -> str:
    _common(value)
    if _TEXT_CONTROLS.search(value):
        raise ValueError("must not contain control characters (tabs and line breaks are allowed)")
    return value


def check_email(value: str) -> str:
    """A stripped one-line value (check_line first) in the shape of an email address, lower-cased."""
    value = value.strip().lower()
    if not _EMAIL_RX.fullmatch(value):
        raise ValueError("is not an email address")
    return value


def check_line(value: str) -> str:
    _common(value)
    if _LINE_CONTROLS.search(value):
        raise ValueError("must be one line without control characters")
    if _BIDI.search(value):
        raise ValueError("must not contain bidirectional override characters")
    return value
