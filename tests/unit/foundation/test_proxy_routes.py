"""The shared proxy router (smartcourse.proxy_routes) with a fake context: what the assistant's and
analytics' routes have in common (their own tests: tests/unit/assistant/test_router.py and the
integration tests). 404 names the router, 405 the allowed methods; the token, then `admit`, before
any route; pydantic bodies as their JSON; a router that reads no body ignores it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from pydantic import BaseModel

from smartcourse.auth import Principal, issue_token
from smartcourse.errors import Forbidden, RateLimited
from smartcourse.proxy_routes import Request, Router

SECRET = "s" * 32
ITEM = "/things/{thing_id}"


class Thing(BaseModel):
    id: uuid.UUID
    name: str


def _get(calls: list[str], who: Principal, req: Request) -> tuple[int, Any]:
    calls.append("get")
    if req.query.get("slow"):
        raise RateLimited("slow down", extra={"retry_after_s": 7})
    return 200, Thing(id=req.uuid_param("thing_id"), name="a")


def _post(calls: list[str], who: Principal, req: Request) -> tuple[int, Any]:
    calls.append("post")
    return 201, {"got": req.json()}


ROUTES = {("GET", ITEM): _get, ("POST", ITEM): _post}


def ev(
    method: str,
    resource: str = ITEM,
    *,
    token: bool = True,
    body: str | None = None,
    b64: bool = False,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {issue_token(uuid.uuid4(), 'student', SECRET, 60)}"} if token else {}
    return {
        "httpMethod": method,
        "resource": resource,
        "pathParameters": {"thing_id": str(uuid.uuid4())},
        "headers": headers,
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": b64,
    }


def run(router: Router[list[str]], event: dict[str, Any], calls: list[str]) -> tuple[int, dict[str, str], Any]:
    out = router.dispatch(event, lambda: calls, lambda: SECRET, "cid-9")
    assert out["isBase64Encoded"] is False and out["headers"]["X-Correlation-Id"] == "cid-9"
    assert out["headers"]["Content-Type"] == "application/json" and out["headers"]["Cache-Control"] == "no-store"
    return out["statusCode"], out["headers"], json.loads(out["body"])


def test_routes_by_method_and_resource_with_404_and_405() -> None:
    router, calls = Router("things", ROUTES), []
    status, _, body = run(router, ev("GET", "/elsewhere"), calls)
    assert status == 404 and body["error"]["message"] == "no things route for GET /elsewhere"
    status, headers, body = run(router, ev("DELETE"), calls)
    assert status == 405 and headers["Allow"] == "GET, POST" and body["error"]["code"] == "method_not_allowed"
    status, _, body = run(router, ev("GET"), calls)
    assert status == 200 and body["name"] == "a" and calls == ["get"]  # a pydantic body is its JSON


def test_the_token_then_admit_come_before_the_route_and_errors_keep_their_headers() -> None:
    calls: list[str] = []
    assert run(Router("things", ROUTES), ev("GET", token=False), calls)[0] == 401 and calls == []

    def refuse(c: list[str], who: Principal) -> Principal:
        c.append("admit")
        raise Forbidden("not yours")

    assert run(Router("things", ROUTES, admit=refuse), ev("GET"), calls)[0] == 403 and calls == ["admit"]
    status, headers, body = run(Router("things", ROUTES), ev("GET", query={"slow": "1"}), calls)
    assert status == 429 and headers["Retry-After"] == "7" and body["error"]["retry_after_s"] == 7


def test_bodies_are_read_strictly_unless_the_router_reads_none() -> None:
    calls: list[str] = []
    raw = base64.b64encode(json.dumps({"a": 1}).encode()).decode()
    assert run(Router("things", ROUTES), ev("POST", body=raw, b64=True), calls)[2] == {"got": {"a": 1}}
    status, _, body = run(Router("things", ROUTES), ev("POST", body="\xff not base64", b64=True), calls)
    assert status == 400 and body["error"]["details"] == [{"field": "body", "problem": "not UTF-8"}]
    status, _, body = run(Router("things", ROUTES, with_body=False), ev("POST", body="\xff", b64=True), calls)
    assert status == 201 and body == {"got": {}}
