"""The assistant's router with a fake service: parsing, auth before anything, one error mapping."""

from __future__ import annotations

import json
import uuid
from typing import Any

from smartcourse.auth import Principal, issue_token
from smartcourse.errors import RateLimited, Unauthorized
from tests.conftest import load_function_module

SECRET = "s" * 32
routes = load_function_module("assistant", "assistant_routes")


class FakeService:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.ended: set[uuid.UUID] = set()   # users whose session has ended

    def require_session(self, who: Principal) -> Principal:
        if who.user_id in self.ended:
            raise Unauthorized("the session has ended; sign in again")
        return who

    def search(self, who: Principal, course_id: uuid.UUID, q: str, limit: int) -> dict[str, Any]:
        self.calls.append(("search", (who, course_id, q, limit)))
        if q == "too many":
            raise RateLimited("slow down", extra={"retry_after_s": 9})
        return {"items": []}

    def status(self, who: Principal, course_id: uuid.UUID) -> dict[str, Any]:
        self.calls.append(("status", (who, course_id)))
        return {"live_version": 1, "latest_version": 2, "state": "indexing",
                "documents": {"ready": 1, "processing": 1, "failed": 0}}


def ev(method: str, resource: str, params: dict[str, str], headers: dict[str, str],
       query: dict[str, str] | None = None) -> dict[str, Any]:
    return {"httpMethod": method, "resource": resource, "pathParameters": params, "headers": headers,
            "queryStringParameters": query, "body": None}


def run(event: dict[str, Any], svc: FakeService) -> tuple[int, dict[str, str], dict[str, Any]]:
    out = routes.dispatch(event, lambda: svc, lambda: SECRET, "cid-1")
    return out["statusCode"], out["headers"], json.loads(out["body"])


def test_search_parses_path_query_and_the_bearer_token_case_insensitively() -> None:
    svc, uid, course = FakeService(), uuid.uuid4(), uuid.uuid4()
    tok = issue_token(uid, "student", SECRET, 60)
    status, headers, body = run(ev("GET", routes.SEARCH, {"course_id": str(course)}, {"Authorization": f"Bearer {tok}"},
                                   {"q": "moon", "limit": "3"}), svc)
    assert status == 200 and body == {"items": []} and headers["X-Correlation-Id"] == "cid-1"
    assert svc.calls == [("search", (Principal(uid, "student"), course, "moon", 3))]


def test_token_is_checked_before_the_service_is_touched() -> None:
    svc = FakeService()
    status, _, body = run(ev("GET", routes.SEARCH, {"course_id": str(uuid.uuid4())}, {}), svc)
    assert status == 401 and body["error"]["code"] == "unauthorized" and svc.calls == []


def test_a_valid_token_of_an_ended_session_is_refused_before_any_service_call() -> None:
    # Signed out, password changed, account disabled: the signature still verifies, the session
    # check (every request) answers 401.
    svc, uid = FakeService(), uuid.uuid4()
    svc.ended.add(uid)
    tok = issue_token(uid, "student", SECRET, 60, session_id=uuid.uuid4())
    status, _, body = run(ev("GET", routes.SEARCH, {"course_id": str(uuid.uuid4())}, {"Authorization": f"Bearer {tok}"},
                             {"q": "moon"}), svc)
    assert status == 401 and body["error"]["message"] == "the session has ended; sign in again" and svc.calls == []


def test_unknown_route_404_wrong_method_405_and_429_carries_retry_after() -> None:
    svc = FakeService()
    tok = issue_token(uuid.uuid4(), "student", SECRET, 60)
    auth = {"authorization": f"Bearer {tok}"}
    assert run(ev("GET", "/elsewhere", {}, auth), svc)[0] == 404
    status, headers, _ = run(ev("DELETE", routes.SEARCH, {"course_id": str(uuid.uuid4())}, auth), svc)
    assert status == 405 and headers["Allow"] == "GET"  # RFC 9110
    assert run(ev("GET", routes.ASK, {"course_id": str(uuid.uuid4())}, auth), svc)[1]["Allow"] == "POST"
    status, headers, body = run(ev("GET", routes.SEARCH, {"course_id": str(uuid.uuid4())}, auth,
                                   {"q": "too many"}), svc)
    assert status == 429 and headers["Retry-After"] == "9" and body["error"]["retry_after_s"] == 9


def test_status_route_calls_the_service_once_and_a_bad_course_id_is_404() -> None:
    svc, uid, course = FakeService(), uuid.uuid4(), uuid.uuid4()
    auth = {"authorization": f"Bearer {issue_token(uid, 'student', SECRET, 60)}"}
    status, _, body = run(ev("GET", routes.STATUS, {"course_id": str(course)}, auth), svc)
    assert status == 200 and body["state"] == "indexing" and body["documents"]["processing"] == 1
    assert svc.calls == [("status", (Principal(uid, "student"), course))]
    status, _, body = run(ev("GET", routes.STATUS, {"course_id": "nope"}, auth), svc)
    assert status == 404 and body["error"] == {"code": "not_found", "message": "course not found"}
    assert run(ev("POST", routes.STATUS, {"course_id": str(course)}, auth), svc)[0] == 405
    assert run(ev("GET", routes.STATUS, {"course_id": str(course)}, {}), svc)[0] == 401
