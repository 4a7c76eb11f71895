"""CORS through the local gateway with the real functions: the preflight follows template.yaml's
Globals.Api.Cors, and real responses of ApiFunction and AssistantFunction (200, 4xx, 401) carry
Access-Control-Allow-Origin for the WebOrigin the template was deployed with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack import template as tpl
from devstack.runtime import LocalRuntime, RuntimeOptions
from tests.conftest import free_port

pytestmark = pytest.mark.integration
WEB = "http://127.0.0.1:8080"
PASSWORD = "a-cors-test-password"


@pytest.fixture(scope="module")
def api(stage: str, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any) -> Iterator[httpx.Client]:
    template = tpl.load(parameter_overrides={"Stage": stage, "WebOrigin": WEB})
    port = free_port()
    runtime = LocalRuntime(template, {**function_env, "GROQ_API_KEY": "", "GROQ_API_KEY_SECRET_ARN": ""},
                           RuntimeOptions(http_port=port, schedules=False, s3=False, msk=False,
                                          only_functions={"ApiFunction", "AssistantFunction"}),
                           stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers)
    runtime.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"Origin": WEB}) as client:
            yield client
    finally:
        runtime.stop()


def token(api: httpx.Client, role: str) -> dict[str, str]:
    email = f"cors-{role}-{uuid.uuid4().hex[:8]}@example.com"
    assert api.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "C", "role": role}
                    ).status_code == 201
    tok = api.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {tok}"}


def allowed(r: httpx.Response) -> bool:
    return r.headers.get("access-control-allow-origin") == WEB and "X-Correlation-Id" in r.headers.get(
        "access-control-expose-headers", "")


def test_preflight_follows_the_template(api: httpx.Client) -> None:
    cors = tpl.load_raw()["Globals"]["Api"]["Cors"]
    r = api.options("/courses/x/assistant/ask", headers={"Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == WEB
    assert r.headers["access-control-allow-headers"] == cors["AllowHeaders"].strip("'")
    assert r.headers["access-control-allow-methods"] == cors["AllowMethods"].strip("'")
    unknown = api.options("/nope")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "route_not_found"


def test_api_function_responses_carry_the_origin(api: httpx.Client) -> None:
    teacher = token(api, "instructor")
    created = api.post("/courses", json={"title": "CORS", "description": "d"}, headers=teacher)
    outcomes = {
        "201 create": created,
        "200 catalogue": api.get("/courses", headers=teacher),
        "401 no token": api.get("/me"),
        "401 bad password": api.post("/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"}),
        "400 bad body": api.post("/courses", content=b"{", headers={**teacher, "Content-Type": "application/json"}),
        "404 unknown course": api.get(f"/courses/{uuid.uuid4()}", headers=teacher),
    }
    for what, r in outcomes.items():
        assert r.status_code == int(what.split()[0]), (what, r.text)
        assert allowed(r), (what, dict(r.headers))


def test_assistant_function_responses_carry_the_origin(api: httpx.Client) -> None:
    teacher, learner = token(api, "instructor"), token(api, "student")
    course = api.post("/courses", json={"title": "CORS 2", "description": "d"}, headers=teacher).json()["id"]
    outcomes = {
        "200 search own course": api.get(f"/courses/{course}/search", params={"q": "moon"}, headers=teacher),
        "401 no token": api.post(f"/courses/{course}/assistant/ask", json={"question": "why?"}),
        "403 not enrolled": api.get(f"/courses/{course}/search", params={"q": "moon"}, headers=learner),
        "400 bad body": api.post(f"/courses/{course}/assistant/ask", content=b"{", headers=teacher),
    }
    for what, r in outcomes.items():
        assert r.status_code == int(what.split()[0]), (what, r.text)
        assert allowed(r), (what, dict(r.headers))
