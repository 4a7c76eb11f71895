"""AssistantFunction's handler in-process, with the function's environment: routing, JWTs, JSON
errors, status codes and headers (401, 403, 404, 400, 429, 503 with Retry-After)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from smartcourse.container import reset_all
from testkit.sessions import session_token
from tests.conftest import load_function_module
from tests.integration.assistant.conftest import World
from tests.integration.assistant.fake_groq import FakeGroq, fake_groq

pytestmark = pytest.mark.integration


class Context:
    function_name = "AssistantFunction"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AssistantFunction"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30000


def event(method: str, resource: str, params: dict[str, str], *, token: str | None = None,
          body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    path = resource
    for k, v in params.items():
        path = path.replace("{" + k + "}", v)
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "queryStringParameters": query, "pathParameters": params,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "requestId": str(uuid.uuid4())},
            "body": body if body is None or isinstance(body, str) else json.dumps(body), "isBase64Encoded": False}


ASK = "/courses/{course_id}/assistant/ask"
STATUS = "/courses/{course_id}/assistant/status"
SEARCH = "/courses/{course_id}/search"
CONV = "/courses/{course_id}/assistant/conversations/{conversation_id}"
FEEDBACK = CONV + "/messages/{message_id}/feedback"


@pytest.fixture
def app(in_process_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("GROQ_API_KEY", "GROQ_API_KEY_SECRET_ARN", "GROQ_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    module = load_function_module("assistant")
    reset_all()
    yield module
    reset_all()


def call(app: Any, ev: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    out = app.handler(ev, Context())
    return out["statusCode"], out["headers"], json.loads(out["body"])


def token(env: dict[str, str], who: Any) -> str:
    return session_token(env["DATABASE_URL"], who.user_id, who.role, env["JWT_SECRET"])


def test_sample_event_is_answered_401(app: Any) -> None:
    from pathlib import Path

    sample = json.loads((Path(__file__).parents[3] / "events/AssistantFunction/search-bad-token.json").read_text())
    status, headers, body = call(app, sample)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert headers["X-Correlation-Id"] == "sample-assistant-search"


def test_ask_search_conversation_feedback_over_http(app: Any, world: World, in_process_env: dict[str, str]) -> None:
    course = str(world.a.course_id)
    t = token(in_process_env, world.learner_a)
    status, _, body = call(app, event("POST", ASK, {"course_id": course}, token=t,
                                      body={"question": "When did Apollo 11 land?"}))
    assert status == 200, body
    assert body["refused"] is False and body["reason"] is None and "1969" in body["answer"]
    assert body["citations"][0]["n"] >= 1
    status, _, conv = call(app, event("GET", CONV, {"course_id": course, "conversation_id": body["conversation_id"]},
                                      token=t))
    assert status == 200 and len(conv["messages"]) == 2
    status, _, fb = call(app, event("POST", FEEDBACK, {"course_id": course, "conversation_id": body["conversation_id"],
                                                        "message_id": body["message_id"]}, token=t,
                                    body={"helpful": True, "comment": "clear"}))
    assert status == 200 and fb["helpful"] is True
    status, _, found = call(app, event("GET", SEARCH, {"course_id": course}, token=t,
                                       query={"q": "Tycho crater", "limit": "3"}))
    assert status == 200 and found["items"][0]["asset_id"] == str(world.a.asset_ids["surface.md"])
    assert len(found["items"]) <= 3


def test_assistant_status_over_http_for_each_kind_of_caller(app: Any, world: World,
                                                            in_process_env: dict[str, str]) -> None:
    course = str(world.a.course_id)
    for who in (world.learner_a, world.instructor, world.admin):
        status, headers, body = call(app, event("GET", STATUS, {"course_id": course},
                                                token=token(in_process_env, who)))
        assert status == 200 and headers["Cache-Control"] == "no-store", body
        assert body == {"live_version": 1, "latest_version": 1, "state": "live",
                        "documents": {"ready": 2, "processing": 0, "failed": 0}}
    cases = [
        (world.outsider, course, 403, "forbidden"),
        (world.learner_b, course, 403, "forbidden"),      # enrolled in another course
        (world.cancelled, course, 403, "forbidden"),      # enrollment cancelled
        (world.admin, str(uuid.uuid4()), 404, "not_found"),
        (world.learner_a, "not-a-uuid", 404, "not_found"),  # cannot name a course (as in the API)
        (None, course, 401, "unauthorized"),
    ]
    for who, course_id, want_status, want_code in cases:
        t = token(in_process_env, who) if who is not None else None
        status, _, body = call(app, event("GET", STATUS, {"course_id": course_id}, token=t))
        assert (status, body["error"]["code"]) == (want_status, want_code), (who, course_id, body)


def test_errors_are_json_with_the_right_status(app: Any, world: World, in_process_env: dict[str, str]) -> None:
    course = str(world.a.course_id)
    t = token(in_process_env, world.learner_a)
    cases = [
        (event("POST", ASK, {"course_id": course}, body={"question": "x?"}), 401, "unauthorized"),
        (event("POST", ASK, {"course_id": course}, token="garbage", body={"question": "x?"}), 401, "unauthorized"),
        (event("POST", ASK, {"course_id": course}, token=token(in_process_env, world.outsider),
               body={"question": "What are maria?"}), 403, "forbidden"),
        (event("POST", ASK, {"course_id": str(uuid.uuid4())}, token=token(in_process_env, world.admin),
               body={"question": "What are maria?"}), 404, "not_found"),
        # not a UUID: it cannot name a course, 404 as in the LMS API (smartcourse.http.path_id)
        (event("POST", ASK, {"course_id": "not-a-uuid"}, token=t, body={"question": "x?"}), 404, "not_found"),
        (event("POST", ASK, {"course_id": course}, token=t), 400, "validation_failed"),  # no body: question required
        (event("POST", ASK, {"course_id": course}, token=t, body="{not json"), 400, "bad_request"),
        (event("POST", ASK, {"course_id": course}, token=t, body={"question": ""}), 400, "validation_failed"),
        (event("POST", ASK, {"course_id": course}, token=t, body={"question": "x?", "extra": 1}), 400,
         "validation_failed"),
        (event("POST", FEEDBACK, {"course_id": course, "conversation_id": str(uuid.uuid4()),
                                  "message_id": str(uuid.uuid4())}, token=t, body={"helpful": "yes"}), 400,
         "validation_failed"),
        (event("GET", SEARCH, {"course_id": course}, token=t, query={"q": "moon", "limit": "x"}), 400,
         "validation_failed"),
        (event("GET", "/nope", {}, token=t), 404, "not_found"),
    ]
    for ev, want_status, want_code in cases:
        status, headers, body = call(app, ev)
        assert (status, body["error"]["code"]) == (want_status, want_code), (ev["resource"], ev.get("body"), body)
        assert headers["Content-Type"] == "application/json"
    _, _, body = call(app, cases[4][0])
    assert body["error"]["message"] == "course not found"
    _, _, body = call(app, cases[5][0])
    assert body["error"]["details"][0]["field"] == "question"


def test_rate_limit_is_429_with_retry_after(app: Any, world: World, in_process_env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_RATE_LIMIT_PER_MINUTE", "1")
    reset_all()
    t = token(in_process_env, world.instructor)
    statuses = []
    for _ in range(4):
        status, headers, body = call(app, event("GET", SEARCH, {"course_id": str(world.a.course_id)}, token=t,
                                                query={"q": "moon"}))
        statuses.append(status)
        if status == 429:
            assert body["error"]["code"] == "rate_limited" and 1 <= int(headers["Retry-After"]) <= 60
            break
    assert statuses[0] == 200 and statuses[-1] == 429


def test_groq_failure_is_503_with_retry_after(app: Any, world: World, in_process_env: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_groq() as groq:
        groq: FakeGroq  # type: ignore[no-redef]
        groq.mode = "429"
        monkeypatch.setenv("GROQ_API_KEY", "test")
        monkeypatch.setenv("GROQ_BASE_URL", groq.url)
        monkeypatch.setenv("GROQ_MAX_RETRIES", "0")
        reset_all()
        status, headers, body = call(app, event("POST", ASK, {"course_id": str(world.a.course_id)},
                                                token=token(in_process_env, world.learner_a),
                                                body={"question": "How far is the Moon from the Earth?"}))
    assert status == 503 and headers["Retry-After"] == "7"
    assert body["error"]["code"] == "dependency_unavailable" and body["error"]["reason"] == "rate_limited"


def _conforms(model: Any, body: dict[str, Any]) -> None:
    """`body` is what /openapi.json says: it validates, and it has exactly the documented fields
    (recursively for nested models and lists of them)."""
    from pydantic import BaseModel

    model.model_validate(body)
    assert set(body) == set(model.model_fields), (model.__name__, sorted(body), sorted(model.model_fields))
    for name, field in model.model_fields.items():
        value, kind = body[name], field.annotation
        inner = getattr(kind, "__args__", (kind,))
        nested = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if nested and isinstance(value, dict):
            _conforms(nested[0], value)
        elif nested and isinstance(value, list):
            for item in value:
                _conforms(nested[0], item)


def test_every_assistant_response_is_what_the_openapi_document_says(app: Any, world: World,
                                                                   in_process_env: dict[str, str]) -> None:
    from smartcourse.assistant import schemas

    course = str(world.a.course_id)
    t = token(in_process_env, world.learner_a)
    _, _, answer = call(app, event("POST", ASK, {"course_id": course}, token=t,
                                   body={"question": "When did Apollo 11 land?"}))
    _conforms(schemas.Answer, answer)
    assert answer["citations"]
    _, _, refused = call(app, event("POST", ASK, {"course_id": course}, token=t,
                                    body={"question": "What time does the campus library open on Sundays?"}))
    _conforms(schemas.Answer, refused)
    assert refused["refused"] is True and refused["reason"] == "not_covered"
    ids = {"course_id": course, "conversation_id": answer["conversation_id"]}
    _, _, fb = call(app, event("POST", FEEDBACK, {**ids, "message_id": answer["message_id"]}, token=t,
                               body={"helpful": False, "comment": "too short"}))
    _conforms(schemas.FeedbackResult, fb)
    _, _, conv = call(app, event("GET", CONV, ids, token=t))
    _conforms(schemas.Conversation, conv)
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"]
    assert conv["messages"][1]["feedback"] == {"helpful": False, "comment": "too short"}
    _, _, found = call(app, event("GET", SEARCH, {"course_id": course}, token=t, query={"q": "Tycho crater"}))
    _conforms(schemas.SearchResults, found)
    assert found["items"]
    _, _, state = call(app, event("GET", STATUS, {"course_id": course}, token=t))
    _conforms(schemas.AssistantStatus, state)
