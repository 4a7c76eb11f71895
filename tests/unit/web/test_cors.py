"""CORS for the web client, wired from template.yaml: the local gateway answers the preflight as
SAM's OPTIONS mock integration does, and every response of the API and the assistant carries
Access-Control-Allow-Origin from CORS_ALLOW_ORIGIN (errors included). No services needed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chalice.test import Client

from devstack import template as tpl
from devstack.gateway import Gateway, cors_preflight_headers
from smartcourse.errors import ConfigurationError
from smartcourse.http import CORS_EXPOSE_HEADERS, cors_headers, cors_headers_from
from smartcourse.settings import CommonSettings, load_settings
from tests.conftest import ROOT, load_function_module
from tests.unit.web.conftest import WEB

PROBE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


def unquote(v: str) -> str:
    assert v.startswith("'") and v.endswith("'"), v
    return v[1:-1]


def raw_cors() -> dict[str, Any]:
    return dict(tpl.load_raw()["Globals"]["Api"]["Cors"])


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    template = tpl.load(parameter_overrides={"Stage": "qa", "WebOrigin": WEB})
    gw = Gateway(template, pools={}, port=0, stage="qa")  # the preflight never reaches a function
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def test_the_template_allows_the_headers_the_api_reads() -> None:
    cors = raw_cors()
    headers = {h.lower() for h in unquote(cors["AllowHeaders"]).split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-correlation-id"} <= headers
    methods = set(unquote(cors["AllowMethods"]).split(","))
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= methods
    env = tpl.load(parameter_overrides={"WebOrigin": WEB}).functions
    assert {spec.environment["CORS_ALLOW_ORIGIN"] for spec in env.values()} == {WEB}


def test_the_gateway_reads_cors_and_gateway_responses_from_the_template() -> None:
    t = tpl.load(parameter_overrides={"WebOrigin": WEB})
    cors = raw_cors()
    assert t.api_cors is not None
    assert t.api_cors.allow_origin == WEB
    assert t.api_cors.allow_headers == unquote(cors["AllowHeaders"])
    assert t.api_cors.allow_methods == unquote(cors["AllowMethods"])
    assert t.api_cors.max_age == unquote(cors["MaxAge"])
    assert cors["AllowCredentials"] is True and t.api_cors.allow_credentials  # the web app's refresh cookie
    for rtype in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert t.gateway_response_headers[rtype] == {"Access-Control-Allow-Origin": WEB,
                                                     "Access-Control-Allow-Credentials": "true"}
    assert tpl.load().api_cors.allow_origin == "*"  # type: ignore[union-attr]  # the default


def test_without_allow_methods_the_preflight_lists_the_paths_methods_like_sam() -> None:
    cors = tpl.ApiCors(allow_origin="*")
    assert cors_preflight_headers(cors, ["get", "patch"]) == {
        "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET,OPTIONS,PATCH"}
    any_method = cors_preflight_headers(cors, ["any"])["Access-Control-Allow-Methods"]
    assert any_method == "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"


def test_the_preflight_allows_credentials_only_when_the_template_says_so() -> None:
    assert "Access-Control-Allow-Credentials" not in cors_preflight_headers(tpl.ApiCors(allow_origin=WEB), ["post"])
    with_credentials = cors_preflight_headers(tpl.ApiCors(allow_origin=WEB, allow_credentials=True), ["post"])
    assert with_credentials["Access-Control-Allow-Credentials"] == "true"
    assert with_credentials["Access-Control-Allow-Origin"] == WEB


CORS_WITH_CREDENTIALS = """Parameters:
  WebOrigin: {{Type: String, Default: "*"}}
Globals:
  Api:
    Cors:
      AllowOrigin: {origin}
      AllowCredentials: {credentials}
Resources: {{}}
"""


def test_allow_credentials_is_a_boolean_refused_with_a_literal_star_origin_like_sam(tmp_path: Path) -> None:
    t = tmp_path / "template.yaml"
    # A parameterised origin is accepted (SAM checks the literal only), whatever it resolves to
    t.write_text(CORS_WITH_CREDENTIALS.format(origin='!Sub "\'${WebOrigin}\'"', credentials="true"))
    assert tpl.load(t).api_cors == tpl.ApiCors(allow_origin="*", allow_credentials=True)
    assert tpl.load(t, parameter_overrides={"WebOrigin": WEB}).api_cors == tpl.ApiCors(
        allow_origin=WEB, allow_credentials=True)
    t.write_text(CORS_WITH_CREDENTIALS.format(origin='"\'*\'"', credentials="false"))
    assert tpl.load(t).api_cors == tpl.ApiCors(allow_origin="*")
    # SAM: "'AllowCredentials' can not be true when 'AllowOrigin' is \"'*'\""
    t.write_text(CORS_WITH_CREDENTIALS.format(origin='"\'*\'"', credentials="true"))
    with pytest.raises(tpl.TemplateError, match="AllowCredentials cannot be true"):
        tpl.load(t)
    # SAM would quietly read a quoted "'true'" as false
    t.write_text(CORS_WITH_CREDENTIALS.format(origin=f'"\'{WEB}\'"', credentials='"\'true\'"'))
    with pytest.raises(tpl.TemplateError, match="must be true or false"):
        tpl.load(t)


def test_unquoted_cors_values_are_a_template_error(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text('Globals:\n  Api:\n    Cors:\n      AllowOrigin: "*"\nResources: {}\n')
    with pytest.raises(tpl.TemplateError, match="quoted literal"):
        tpl.load(bad)


@pytest.mark.parametrize("path", ["/courses", "/courses/abc", "/courses/abc/assistant/ask", "/health",
                                  "/enrollments/e/lessons/l/progress"])
def test_preflight_on_a_known_path_answers_like_api_gateway(gateway: Gateway, path: str) -> None:
    cors = raw_cors()
    r = httpx.options(f"{gateway.url}{path}", headers={
        "Origin": WEB, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == WEB
    assert r.headers["access-control-allow-headers"] == unquote(cors["AllowHeaders"])
    assert r.headers["access-control-allow-methods"] == unquote(cors["AllowMethods"])
    assert r.headers["access-control-max-age"] == unquote(cors["MaxAge"])
    assert r.headers["access-control-allow-credentials"] == "true"  # the refresh cookie of /auth/*


def test_unknown_paths_and_methods_stay_json_errors_with_the_gateway_response_header(gateway: Gateway) -> None:
    r = httpx.options(f"{gateway.url}/no/such/path", headers={"Origin": WEB})
    assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found"
    assert r.headers["access-control-allow-origin"] == WEB
    assert r.headers["access-control-allow-credentials"] == "true"
    r = httpx.request("TRACE", f"{gateway.url}/courses")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["access-control-allow-origin"] == WEB


def test_a_template_without_cors_has_no_preflight() -> None:
    gw = Gateway(tpl.load(PROBE), pools={}, port=0)
    gw.start()
    try:
        r = httpx.options(f"{gw.url}/echo/x")
        assert r.status_code == 405 and "access-control-allow-origin" not in r.headers
    finally:
        gw.stop()


def test_cors_headers_expose_what_the_app_reads_and_vary_on_a_named_origin() -> None:
    # "*": no credentials (browsers refuse them with a wildcard anyway)
    assert cors_headers("*") == {"Access-Control-Allow-Origin": "*",
                                 "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS}
    # A named origin: credentialed requests too (the web app's refresh cookie)
    assert cors_headers(WEB) == {"Access-Control-Allow-Origin": WEB, "Access-Control-Allow-Credentials": "true",
                                 "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS, "Vary": "Origin"}
    assert "X-Correlation-Id" in CORS_EXPOSE_HEADERS and "Retry-After" in CORS_EXPOSE_HEADERS

    def broken() -> CommonSettings:
        raise ConfigurationError("setting X is required")

    assert cors_headers_from(broken) == {}


@pytest.mark.parametrize("bad", ["http://a b", "ftp://x", "x.example", "'*'", "https://x.example/"])
def test_cors_allow_origin_must_be_star_or_an_origin(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", bad)
    load_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="CORS_ALLOW_ORIGIN"):
            load_settings(CommonSettings)
    finally:
        load_settings.cache_clear()




def test_every_api_response_carries_the_allowed_origin(env: None) -> None:
    app = load_function_module("api").app
    with Client(app) as client:
        responses = {
            "200": client.http.get("/openapi.json"),
            "401": client.http.get("/me"),
            "400": client.http.post("/auth/login", body=b"{not json", headers={"content-type": "application/json"}),
        }
    for status, r in responses.items():
        assert str(r.status_code) == status, (status, r.body[:200])
        assert r.headers["Access-Control-Allow-Origin"] == WEB, status
        assert r.headers["Access-Control-Expose-Headers"] == CORS_EXPOSE_HEADERS
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert r.headers["Vary"] == "Origin"


class FakeContext:
    function_name = "AssistantFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AssistantFunction"
    aws_request_id = "unit"


def test_every_assistant_response_carries_the_allowed_origin(env: None) -> None:
    from smartcourse.auth import issue_token

    app = load_function_module("assistant")
    course = str(uuid.uuid4())
    token = issue_token(uuid.uuid4(), "student", "j" * 40, 600)

    def call(method: str, resource: str, headers: dict[str, str], body: str | None = None) -> dict[str, Any]:
        return dict(app.handler({"httpMethod": method, "resource": resource, "path": resource,
                                 "pathParameters": {"course_id": course}, "headers": headers, "body": body,
                                 "requestContext": {"requestId": "r1"}}, FakeContext()))

    ask = "/courses/{course_id}/assistant/ask"
    outcomes = {
        401: call("POST", ask, {}),
        405: call("GET", ask, {"Authorization": f"Bearer {token}"}),
        404: call("GET", "/nowhere", {"Authorization": f"Bearer {token}"}),
    }
    for status, out in outcomes.items():
        assert out["statusCode"] == status, out
        assert out["headers"]["Access-Control-Allow-Origin"] == WEB, status
        assert out["headers"]["Access-Control-Allow-Credentials"] == "true", status
        assert out["headers"]["X-Correlation-Id"]
        assert json.loads(out["body"])["error"]["code"]
