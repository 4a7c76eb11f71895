"""Request models refuse hostile strings with a field problem (never reaching storage)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smartcourse.lms import schemas as s


def _fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


@pytest.mark.parametrize(("model", "data", "field"), [
    (s.CreateCourseRequest, {"title": "T" * 1_000_000}, "title"),
    (s.CreateCourseRequest, {"title": "a\x00b"}, "title"),
    (s.CreateCourseRequest, {"title": "ok", "description": "nul \x00"}, "description"),
    (s.CreateCourseRequest, {"title": "two\nlines"}, "title"),
    (s.CreateLessonRequest, {"title": "L", "kind": "text", "body": "esc \x1b]0;pwned\x07"}, "body"),
    (s.RegisterRequest, {"email": "a@b.co", "password": "p" * 12, "name": "gpj.\u202eexe"}, "name"),
    (s.RegisterRequest, {"email": "a\r\n@b.co", "password": "p" * 12, "name": "N"}, "email"),
    (s.RegisterRequest, {"email": "a@b.co", "password": "p\x00" * 6, "name": "N"}, "password"),
    (s.CreateAssetRequest, {"filename": "notes\x00.pdf", "content_type": "application/pdf", "size": 1}, "filename"),
    (s.CreateAssetRequest, {"filename": "a.pdf\r\nX: y", "content_type": "application/pdf", "size": 1}, "filename"),
    (s.CreateAssetRequest, {"filename": "a.pdf", "content_type": "application/pdf\r\nX: y", "size": 1},
     "content_type"),
    (s.CourseListQuery, {"q": "\ud800"}, "q"),
    (s.CourseListQuery, {"cursor": "c\x00"}, "cursor"),
])
def test_hostile_strings_are_field_problems(model: type[s.Request], data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert field in _fields(info.value)


def test_display_names_with_path_tricks_are_kept_as_given() -> None:
    """Decision: a file name is a display name; traversal-looking names are kept verbatim (the
    object key never uses them as given, see `domain.asset_key`)."""
    for name in ("../../etc/passwd", "..\\x", "/abs/path.pdf", "%2e%2e/x.pdf", "ünïcødé.pdf"):
        req = s.CreateAssetRequest(filename=name, content_type="application/pdf", size=1)
        assert req.filename == name


def test_multiline_text_keeps_line_breaks_and_tabs() -> None:
    req = s.CreateLessonRequest(title="L", kind="text", body="para one\n\n\tcode\r\nend")
    assert req.body == "para one\n\n\tcode\r\nend"
