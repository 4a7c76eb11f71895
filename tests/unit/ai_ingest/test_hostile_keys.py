"""Object keys and S3 records an attacker (or a broken client) could produce: never a crash, never
indexed under an asset they do not belong to."""

from __future__ import annotations

import uuid

import pytest

from smartcourse.ai.assets import (
    Declared,
    InvalidAssetKey,
    ObjectInfo,
    asset_key,
    check_object,
    parse_asset_key,
    parse_s3_event,
)

COURSE, ASSET = uuid.uuid4(), uuid.uuid4()
GOOD = asset_key(COURSE, ASSET, "notes.pdf")
BASE = f"courses/{COURSE}/assets/{ASSET}"


@pytest.mark.parametrize("key", [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32",
    f"{BASE}/../../../etc/passwd",
    f"{BASE}/a/../b.pdf",
    f"{BASE}/./x.pdf",
    f"{BASE}/..\\x",
    f"{BASE}//x.pdf",
    f"{BASE}/a\x00b.pdf",
    f"{BASE}/a\r\nb.pdf",
    f"{BASE}/a\x1b[31mb.pdf",
    f"{BASE}/a\x85b.pdf",
    f"{BASE}/" + "n" * 1100 + ".pdf",
    f"courses/{COURSE}/assets/%2e%2e/x.pdf",
])
def test_keys_the_lms_cannot_have_written_are_invalid(key: str) -> None:
    with pytest.raises(InvalidAssetKey):
        parse_asset_key(key)


def test_unicode_names_inside_the_layout_parse() -> None:
    key = parse_asset_key(f"{BASE}/r\u00e9sum\u00e9 \u202egpj.pdf")
    assert key.asset_id == ASSET


def _declared(**kw: object) -> Declared:
    base: dict[str, object] = {"course_id": COURSE, "s3_key": GOOD, "content_type": "application/pdf",
                               "size_bytes": 100, "deleted": False}
    return Declared(**{**base, **kw})  # type: ignore[arg-type]


def test_an_object_under_another_name_of_the_asset_is_a_key_mismatch() -> None:
    other = parse_asset_key(f"{BASE}/evil.html")
    rejection = check_object(other, _declared(), ObjectInfo(100, "application/pdf", "e"), max_bytes=1 << 20)
    assert rejection is not None and rejection.code == "key_mismatch"
    assert "evil.html" in rejection.message and "notes.pdf" in rejection.message


def test_the_issued_key_passes() -> None:
    assert check_object(parse_asset_key(GOOD), _declared(), ObjectInfo(100, "application/pdf", "e"),
                        max_bytes=1 << 20) is None


def test_malformed_s3_records_do_not_raise() -> None:
    event = {"Records": [
        {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": GOOD, "size": "not-a-number"}}},
        {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": GOOD, "size": None, "eTag": None}}},
        {"eventName": "ObjectCreated:Put", "s3": {"object": {}}},
        {"eventName": None},
        {},
    ]}
    changes = parse_s3_event(event)
    assert [c.size for c in changes] == [None, None]
