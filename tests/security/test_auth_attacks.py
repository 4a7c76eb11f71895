"""Tampered and forged JWTs against the API and the assistant, through the local gateway (the real
handlers of ApiFunction and AssistantFunction): every one is a 401 JSON error, never a 2xx, a 403
(which would mean the token was believed) nor a 5xx."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from smartcourse.auth import ISSUER, issue_token
from tests.security.conftest import Gateway

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

WRONG_KEY = "an-attacker-chosen-secret-of-enough-length-0123456789"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(sub: str, role: str = "admin", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "role": role, "iss": ISSUER, "iat": now, "exp": now + 600, **extra}


def forged_tokens(secret: str, victim: str, student: str, student_token: str) -> dict[str, str]:
    """name -> token. `victim` is another user's id, `student` the attacker's own id."""
    header, payload, signature = student_token.split(".")
    escalated = {**json.loads(base64.urlsafe_b64decode(payload + "==")), "role": "admin"}
    no_exp = _claims(student, "student")
    del no_exp["exp"]
    return {
        "alg none, admin claims": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(student))}.",
        "alg none, signature kept": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(student))}.{signature}",
        "alg NONE (case)": f"{_b64({'alg': 'NONE', 'typ': 'JWT'})}.{_b64(_claims(student))}.",
        "wrong key": jwt.encode(_claims(student, "student"), WRONG_KEY, algorithm="HS256"),
        "another user's id, wrong key": jwt.encode(_claims(victim, "instructor"), WRONG_KEY, algorithm="HS256"),
        "payload re-encoded as admin, signature kept": f"{header}.{_b64(escalated)}.{signature}",
        "expired (right key)": issue_token(student, "student", secret, 600, now=time.time() - 3600),
        "HS512 with the right key": jwt.encode(_claims(student, "student"), secret, algorithm="HS512"),
        "wrong issuer (right key)": jwt.encode({**_claims(student, "student"), "iss": "evil"}, secret,
                                               algorithm="HS256"),
        "no exp (right key)": jwt.encode(no_exp, secret, algorithm="HS256"),
        "unknown role (right key)": jwt.encode(_claims(student, "root"), secret, algorithm="HS256"),
        "sub not a uuid (right key)": jwt.encode(_claims("1 OR 1=1"), secret, algorithm="HS256"),
        "not yet valid (right key)": jwt.encode(_claims(student, "student", nbf=int(time.time()) + 3600), secret,
                                                algorithm="HS256"),
        "garbage": "garbage",
        "three dots of garbage": "a.b.c",
        "empty segments": "..",
        "truncated signature": student_token[:-8],
        "huge": "A" * 20000,
    }


# Routes that need a signed-in caller, on both functions (ids are syntactically valid, unknown).
def routes(course: str) -> list[tuple[str, str, Any]]:
    conv = f"/courses/{course}/assistant/conversations/{uuid.uuid4()}"
    return [
        ("GET", "/me", None),
        ("GET", "/me/enrollments", None),
        ("GET", "/me/certificates", None),
        ("POST", "/courses", {"title": "Forged"}),
        ("POST", f"/courses/{course}/enrollments", None),
        ("POST", f"/certificates/{'A' * 5}-{'B' * 5}-{'C' * 5}-{'D' * 5}-{'E' * 5}/revoke", {"reason": "forged"}),
        ("POST", f"/courses/{course}/assistant/ask", {"question": "What is this course about?"}),
        ("GET", f"/courses/{course}/assistant/status", None),
        ("GET", f"/courses/{course}/search?q=moon", None),
        ("GET", conv, None),
        ("POST", f"{conv}/messages/{uuid.uuid4()}/feedback", {"helpful": True}),
    ]


def _secret(function_env: dict[str, str]) -> str:
    return function_env["JWT_SECRET"]


def assert_401(gateway: Gateway, method: str, path: str, body: Any, headers: dict[str, str], what: str) -> None:
    r = gateway.client.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, f"{what}: {method} {path} -> {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json"), (what, path, r.headers)
    assert r.json()["error"]["code"] == "unauthorized", (what, path, r.text)


@pytest.fixture(scope="module")
def course_id(gateway: Gateway) -> str:
    r = gateway.client.post("/courses", json={"title": "Target"},
                            headers={"Authorization": f"Bearer {gateway.tokens['instructor']}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_every_forged_token_is_401_json_on_the_api_and_the_assistant(gateway: Gateway, function_env: dict[str, str],
                                                                        course_id: str) -> None:
    # Given tokens forged or tampered in every way we know
    tokens = forged_tokens(_secret(function_env), gateway.users["instructor"]["id"], gateway.users["student"]["id"],
                           gateway.tokens["student"])
    # When each is sent to every authenticated route of both functions, then each is a 401 JSON error
    for name, token in tokens.items():
        for method, path, body in routes(course_id):
            assert_401(gateway, method, path, body, {"Authorization": f"Bearer {token}"}, name)


@pytest.mark.parametrize(("name", "header"), [
    ("no header", lambda t: {}),
    ("empty bearer", lambda t: {"Authorization": "Bearer"}),
    ("basic scheme", lambda t: {"Authorization": "Basic dXNlcjpwYXNz"}),
    ("token without scheme", lambda t: {"Authorization": t}),
    ("token in another header", lambda t: {"X-Access-Token": t}),
    ("two tokens", lambda t: {"Authorization": f"Bearer {t} Bearer {t}"}),
], ids=lambda x: x if isinstance(x, str) else "")
def test_a_missing_or_malformed_authorization_header_is_401(gateway: Gateway, course_id: str, name: str,
                                                             header: Callable[[str], dict[str, str]]) -> None:
    for method, path, body in routes(course_id):
        assert_401(gateway, method, path, body, header(gateway.tokens["student"]), name)


def test_the_genuine_tokens_are_accepted_so_the_401s_above_mean_something(gateway: Gateway, course_id: str) -> None:
    # Control: the same routes with the real student token are not 401.
    for method, path, body in routes(course_id):
        r = gateway.client.request(method, path, json=body,
                                   headers={"Authorization": f"Bearer {gateway.tokens['student']}"})
        assert r.status_code != 401 and r.status_code < 500, (method, path, r.status_code, r.text[:300])


def test_a_validly_signed_token_for_an_unknown_user_gets_nothing(gateway: Gateway, function_env: dict[str, str],
                                                                 course_id: str) -> None:
    # Given a token signed with the real key for a user id that does not exist (a deleted account)
    ghost = issue_token(uuid.uuid4(), "student", _secret(function_env), 600)
    h = {"Authorization": f"Bearer {ghost}"}
    # Then the profile is not served, and the ghost can neither enrol nor ask
    me = gateway.client.get("/me", headers=h)
    assert me.status_code == 401 and me.json()["error"]["code"] == "unauthorized", me.text
    enrol = gateway.client.post(f"/courses/{course_id}/enrollments", headers=h)
    assert 400 <= enrol.status_code < 500, enrol.text
    print(f"\nghost token: /me {me.status_code}, enrol {enrol.status_code} {enrol.json()['error']['code']}")
    ask = gateway.client.post(f"/courses/{course_id}/assistant/ask", headers=h, json={"question": "Anything?"})
    assert ask.status_code in (401, 403, 404), ask.text
    print(f"ghost token: ask {ask.status_code} {ask.json()['error']['code']}")
    assert gateway.client.get("/me/enrollments", headers=h).json().get("items", []) == []
    assert gateway.client.get("/me/certificates", headers=h).json().get("items", []) == []
