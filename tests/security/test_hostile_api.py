"""Hostile input at the HTTP surface (issue 8, part 4): oversized bodies and strings, malformed
JSON (deep nesting, huge numbers, duplicate keys, invalid UTF-8, NUL bytes) and wrong content
types, sent through the local gateway to the real ApiFunction and AssistantFunction handlers.

Every attack must get a 4xx JSON error naming the problem, nothing may be stored, and the
service must keep serving: after each attack a normal request from the same caller succeeds.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import PASSWORD, Gateway

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _auth(gw: Gateway, role: str = "instructor") -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.tokens[role]}"}


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is `status` with the product's JSON error body; returns the error object."""
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] and body["error"]["message"], body
    return dict(body["error"])


def _fields(error: dict[str, Any]) -> set[str]:
    return {d["field"] for d in error.get("details") or []}


@pytest.fixture(scope="module")
def course_id(gateway: Gateway) -> str:
    r = gateway.client.post("/courses", json={"title": "Hostile input target"}, headers=_auth(gateway))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def module_id(gateway: Gateway, course_id: str) -> str:
    r = gateway.client.post(f"/courses/{course_id}/modules", json={"title": "M"}, headers=_auth(gateway))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
def still_serving(gateway: Gateway) -> Iterator[None]:
    """After the attack: a normal write (API) and a normal question (assistant) still succeed.
    The question comes from a fresh instructor in their own course (the assistant's per-user rate
    limit would otherwise count the checks of every test)."""
    yield
    title = f"Normal course {secrets.token_hex(3)}"
    r = gateway.client.post("/courses", json={"title": title}, headers=_auth(gateway))
    assert r.status_code == 201, r.text
    assert r.json()["title"] == title
    email = f"asker-{secrets.token_hex(4)}@example.com"
    assert gateway.client.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "Asker",
                                                       "role": "instructor"}).status_code == 201
    token = gateway.client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    own = gateway.client.post("/courses", json={"title": "Asker's course"}, headers=headers).json()["id"]
    r = gateway.client.post(f"/courses/{own}/assistant/ask", json={"question": "What is an index?"}, headers=headers)
    assert r.status_code == 200, r.text
    assert set(r.json()) >= {"answer", "citations", "refused"}


def _my_course_titles(gw: Gateway) -> list[str]:
    titles: list[str] = []
    cursor: str | None = None
    me = gw.users["instructor"]["id"]
    while True:
        params: dict[str, Any] = {"instructor_id": me, "limit": 100, **({"cursor": cursor} if cursor else {})}
        r = gw.client.get("/courses", params=params, headers=_auth(gw))
        assert r.status_code == 200, r.text
        titles += [c["title"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return titles


# --------------------------------------------------------------------------- oversized bodies


@pytest.mark.usefixtures("still_serving")
def test_a_body_over_api_gateways_10_mb_is_413_before_any_function_runs(gateway: Gateway) -> None:
    raw = b'{"title": "' + b"x" * (10 * MIB + 1) + b'"}'
    r = gateway.client.post("/courses", content=raw, headers={**_auth(gateway), "Content-Type": "application/json"})
    assert _error(r, 413)["code"] == "payload_too_large"


@pytest.mark.usefixtures("still_serving")
def test_a_body_over_the_api_route_limit_is_413_naming_the_limit(gateway: Gateway) -> None:
    raw = json.dumps({"title": "t", "description": "d" * (2 * MIB)}).encode()
    r = gateway.client.post("/courses", content=raw, headers={**_auth(gateway), "Content-Type": "application/json"})
    err = _error(r, 413)
    assert err["code"] == "payload_too_large" and "bytes" in err["message"]


@pytest.mark.usefixtures("still_serving")
def test_a_body_over_the_assistant_route_limit_is_413(gateway: Gateway, course_id: str) -> None:
    raw = json.dumps({"question": "q" * (200 * 1024)}).encode()
    r = gateway.client.post(f"/courses/{course_id}/assistant/ask", content=raw,
                            headers={**_auth(gateway), "Content-Type": "application/json"})
    err = _error(r, 413)
    assert err["code"] == "payload_too_large" and "bytes" in err["message"]


# --------------------------------------------------------------------------- oversized strings

ONE_MB = "T" * 1_000_000  # fits the API's 1 MiB body limit: the field rule must catch it


def _string_attacks(course: str, module: str) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(id, path, body, role, field) with one string far over its limit."""
    email = f"long-{secrets.token_hex(3)}@example.com"
    return [
        ("course title 1 MB", "/courses", {"title": ONE_MB}, "instructor", "title"),
        ("course description", "/courses", {"title": "ok", "description": "d" * 10_001}, "instructor",
         "description"),
        ("course patch title", f"/courses/{course}", {"title": "t" * 201}, "instructor", "title"),
        ("module title", f"/courses/{course}/modules", {"title": ONE_MB}, "instructor", "title"),
        ("lesson body", f"/courses/{course}/modules/{module}/lessons",
         {"title": "L", "kind": "text", "body": "b" * 100_001}, "instructor", "body"),
        ("lesson title", f"/courses/{course}/modules/{module}/lessons",
         {"title": ONE_MB, "kind": "text"}, "instructor", "title"),
        ("register name", "/auth/register", {"email": email, "password": "p" * 12, "name": ONE_MB}, "", "name"),
        ("register email", "/auth/register", {"email": "a" * 300 + "@example.com", "password": "p" * 12,
                                              "name": "N"}, "", "email"),
        ("register password", "/auth/register", {"email": email, "password": "p" * 129, "name": "N"}, "",
         "password"),
        ("login password", "/auth/login", {"email": email, "password": ONE_MB}, "", "password"),
        ("asset filename", f"/courses/{course}/assets", {"filename": "f" * 256 + ".pdf",
                                                         "content_type": "application/pdf", "size": 10},
         "instructor", "filename"),
        ("asset content type", f"/courses/{course}/assets", {"filename": "a.pdf", "content_type": "x" * 121,
                                                             "size": 10}, "instructor", "content_type"),
        ("assistant question", f"/courses/{course}/assistant/ask", {"question": "q" * 8001}, "instructor",
         "question"),
        ("idempotency key", "/courses", {"title": "t"}, "instructor", "Idempotency-Key"),
    ]


@pytest.mark.usefixtures("still_serving")
def test_every_oversized_string_is_400_naming_the_field_and_nothing_is_stored(
        gateway: Gateway, course_id: str, module_id: str) -> None:
    before = len(_my_course_titles(gateway))
    seen = []
    for name, path, body, role, field in _string_attacks(course_id, module_id):
        headers = _auth(gateway, role) if role else {}
        if field == "Idempotency-Key":
            headers["Idempotency-Key"] = "k" * 201
        method = "PATCH" if name == "course patch title" else "POST"
        r = gateway.client.request(method, path, json=body, headers=headers)
        err = _error(r, 400)
        assert field in _fields(err), (name, err)
        seen.append(name)
    assert len(seen) == 14
    titles = _my_course_titles(gateway)
    assert len(titles) == before and all(len(t) <= 200 for t in titles)
    r = gateway.client.get(f"/courses/{course_id}", headers=_auth(gateway))
    assert r.status_code == 200 and r.json()["title"] == "Hostile input target"
    assert all(len(m["title"]) <= 200 for m in r.json()["modules"])


def _request_schemas(doc: dict[str, Any]) -> list[str]:
    refs = []
    for ops in doc["paths"].values():
        for op in ops.values():
            schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            if schema:
                refs.append(schema["$ref"].rsplit("/", 1)[-1])
    return refs


def _unbounded_strings(schema: Any, components: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Paths of string schemas without maxLength (enums, uuids and date-times are bounded)."""
    if isinstance(schema, list):
        return [p for i, s in enumerate(schema) for p in _unbounded_strings(s, components, f"{where}[{i}]", seen)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded_strings(components[name], components, name, seen)
    found = []
    if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema \
            and "const" not in schema and schema.get("format") not in ("uuid", "date-time"):
        found.append(where)
    for key in ("properties",):
        for prop, sub in (schema.get(key) or {}).items():
            found += _unbounded_strings(sub, components, f"{where}.{prop}", seen)
    for key in ("anyOf", "oneOf", "allOf", "items", "additionalProperties"):
        if key in schema:
            found += _unbounded_strings(schema[key], components, f"{where}.{key}", seen)
    return found


def test_every_request_string_has_a_max_length_in_the_served_openapi_document(gateway: Gateway) -> None:
    doc = gateway.client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    requests = _request_schemas(doc)
    assert len(requests) >= 10
    unbounded: list[str] = []
    for name in requests:
        unbounded += _unbounded_strings({"$ref": f"#/components/schemas/{name}"}, components, name, set())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                unbounded += _unbounded_strings(p["schema"], components, f"{method} {path} {p['name']}", set())
    assert unbounded == []


def test_every_assistant_request_string_has_a_max_length() -> None:
    import sys

    sys.path.insert(0, "functions/assistant")
    try:
        import assistant_routes
    finally:
        sys.path.remove("functions/assistant")
    for model in (assistant_routes.AskBody, assistant_routes.FeedbackBody):
        schema = model.model_json_schema()
        assert _unbounded_strings(schema, schema.get("$defs", {}), model.__name__, set()) == []


# --------------------------------------------------------------------------- malformed JSON


def _raw(gw: Gateway, path: str, raw: bytes, role: str = "instructor") -> httpx.Response:
    return gw.client.post(path, content=raw, headers={**_auth(gw, role), "Content-Type": "application/json"})


MALFORMED: list[tuple[str, bytes, str]] = [
    ("array nested 20k deep", b"[" * 20_000 + b"]" * 20_000, "body"),
    ("object nested 9k deep in a field", b'{"title": ' + b'{"a":' * 9_000 + b"1" + b"}" * 9_000 + b"}", "body"),
    ("number with 1e999999 (infinity)", b'{"title": "t", "capacity": 1e999999}', "body"),
    ("integer with 5000 digits", b'{"title": "t", "capacity": ' + b"9" * 5000 + b"}", "body"),
    ("integer over the field's range", b'{"title": "t", "capacity": ' + b"9" * 40 + b"}", "capacity"),
    ("NaN", b'{"title": "t", "capacity": NaN}', "body"),
    ("duplicate keys", b'{"title": "harmless", "title": "smuggled"}', "title"),
    ("invalid UTF-8", b'{"title": "\xff\xfe\xc3\x28 bad"}', "body"),
    ("lone surrogate escape", b'{"title": "\\ud800 surrogate"}', "title"),
    ("NUL escape in a string", b'{"title": "a\\u0000b"}', "title"),
    ("raw NUL byte in a string", b'{"title": "a\x00b"}', "body"),
    ("not an object", b'"just a string"', "body"),
    ("trailing garbage", b'{"title": "t"} {"title": "u"}', "body"),
]


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize(("raw", "field"), [(m[1], m[2]) for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_json_is_400_naming_the_problem_on_the_api(gateway: Gateway, raw: bytes, field: str) -> None:
    before = len(_my_course_titles(gateway))
    err = _error(_raw(gateway, "/courses", raw), 400)
    assert field in _fields(err), err
    assert len(_my_course_titles(gateway)) == before


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize(("raw", "field"), [(m[1].replace(b'"title"', b'"question"'), m[2]) for m in MALFORMED
                                            if m[2] in ("body", "title")],
                         ids=[m[0] for m in MALFORMED if m[2] in ("body", "title")])
def test_malformed_json_is_400_naming_the_problem_on_the_assistant(gateway: Gateway, course_id: str, raw: bytes,
                                                                   field: str) -> None:
    err = _error(_raw(gateway, f"/courses/{course_id}/assistant/ask", raw), 400)
    expected = "question" if field == "title" else field
    assert expected in _fields(err), err


@pytest.mark.usefixtures("still_serving")
def test_control_characters_and_bidi_overrides_in_names_are_refused(gateway: Gateway) -> None:
    for name in ("Eve\x1b[31m", "Mallory\r\nX-Injected: 1", "gpj.\u202eexe", "a\x00b"):
        email = f"ctl-{secrets.token_hex(3)}@example.com"
        r = gateway.client.post("/auth/register", json={"email": email, "password": "p" * 12, "name": name})
        assert "name" in _fields(_error(r, 400)), name


# --------------------------------------------------------------------------- content types

WRONG_TYPES: list[tuple[str, bytes]] = [
    ("text/plain", b'{"title": "plain"}'),
    ("application/x-www-form-urlencoded", b"title=form"),
    ("application/xml", b"<course><title>xml</title></course>"),
    ("text/xml", b"<course><title>xml</title></course>"),
    ("multipart/form-data; boundary=XyZ", b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nm\r\n--XyZ--'),
    ("application/octet-stream", b'{"title": "bytes"}'),
]


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize(("content_type", "raw"), WRONG_TYPES, ids=[t[0].split(";")[0] for t in WRONG_TYPES])
def test_a_wrong_content_type_is_415_json(gateway: Gateway, course_id: str, content_type: str, raw: bytes) -> None:
    before = len(_my_course_titles(gateway))
    for path in ("/courses", f"/courses/{course_id}/assistant/ask"):
        r = gateway.client.post(path, content=raw, headers={**_auth(gateway), "Content-Type": content_type})
        err = _error(r, 415)
        assert err["code"] == "unsupported_media_type", err
        assert content_type.split(";")[0] in err["message"], err
    assert len(_my_course_titles(gateway)) == before


@pytest.mark.usefixtures("still_serving")
def test_a_missing_content_type_is_read_as_json(gateway: Gateway, course_id: str) -> None:
    """Decision: no Content-Type means JSON (API Gateway and Chalice default); the body is then
    parsed as strictly as any other."""
    title = f"untyped {uuid.uuid4().hex[:6]}"
    r = gateway.client.post("/courses", content=json.dumps({"title": title}).encode(), headers=_auth(gateway))
    assert r.status_code == 201 and r.json()["title"] == title, r.text
    err = _error(gateway.client.post("/courses", content=b"title=x", headers=_auth(gateway)), 400)
    assert err["code"] == "bad_request"
    r = gateway.client.post(f"/courses/{course_id}/assistant/ask", content=b'{"question": "What is an index?"}',
                            headers=_auth(gateway))
    assert r.status_code == 200, r.text
