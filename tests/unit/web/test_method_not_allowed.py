"""405 answers carry ``Allow`` (RFC 9110 section 15.5.6): the local gateway's own 405 (a method no
route of the path declares) and the API function's (Chalice's, rewritten to the product's JSON error).
No services needed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from chalice.test import Client

from devstack import template as tpl
from devstack.gateway import Gateway
from tests.conftest import ROOT, load_function_module
from tests.unit.web.conftest import WEB

PROBE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway(tpl.load(parameter_overrides={"Stage": "qa", "WebOrigin": WEB}), pools={}, port=0, stage="qa")
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("TRACE", "/courses", "GET, POST, OPTIONS"),
    ("PUT", "/courses", "GET, POST, OPTIONS"),
    ("DELETE", "/courses/0b6f4c1e-1111-4222-8333-944455556666", "GET, PATCH, OPTIONS"),
    ("QUERY", "/enrollments/x/lessons/y/progress", "PUT, OPTIONS"),
    ("GET", "/courses/x/assistant/ask", "POST, OPTIONS"),  # the assistant function's path
    ("HEAD", "/me", "GET, DELETE, OPTIONS"),
])
def test_the_gateway_405_lists_the_path_methods_in_allow(gateway: Gateway, method: str, path: str,
                                                         allow: str) -> None:
    r = httpx.request(method, f"{gateway.url}{path}")
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    if method != "HEAD":
        assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["access-control-allow-origin"] == WEB  # still a GatewayResponses answer


def test_every_gateway_405_has_allow_and_allow_names_only_methods_that_do_not_405(gateway: Gateway) -> None:
    paths = {r.resource for r in gateway.routes}
    for resource in sorted(paths):
        path = resource.replace("{", "").replace("}", "")  # any value matches a path parameter
        r = httpx.request("TRACE", f"{gateway.url}{path}")
        assert r.status_code == 405 and r.headers.get("allow"), resource
        for allowed in r.headers["allow"].split(", "):
            assert allowed in {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, (resource, allowed)
            if allowed == "OPTIONS":
                assert httpx.options(f"{gateway.url}{path}").status_code == 200, resource


def test_without_cors_options_is_not_allowed_and_not_listed() -> None:
    gw = Gateway(tpl.load(PROBE), pools={}, port=0)
    gw.start()
    try:
        r = httpx.options(f"{gw.url}/echo/x")
        assert r.status_code == 405 and "OPTIONS" not in r.headers["allow"].split(", ")
        assert r.headers["allow"]
    finally:
        gw.stop()




@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/courses", {"GET", "POST"}),
    ("TRACE", "/courses/0b6f4c1e-1111-4222-8333-944455556666", {"GET", "PATCH"}),
    ("POST", "/enrollments/0b6f4c1e-1111-4222-8333-944455556666/progress", {"GET"}),
])
def test_the_api_function_405_keeps_allow_in_the_product_error_format(env: None, method: str, path: str,
                                                                     allow: set[str]) -> None:
    with Client(load_function_module("api").app) as client:
        r = client.http.request(method, path)
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == allow
    assert r.headers["Content-Type"] == "application/json"
    assert b'"method_not_allowed"' in r.body


def test_every_api_response_carries_a_correlation_id_and_is_logged_once(env: None) -> None:
    import json
    import logging

    from smartcourse.observability import logger

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.records: list[dict[str, Any]] = []

        def emit(self, record: logging.LogRecord) -> None:  # as Powertools writes it (JSON, bound keys)
            self.records.append(json.loads(logger.registered_formatter.format(record)))

    seen = Collect()
    logger.addHandler(seen)
    try:
        with Client(load_function_module("api").app) as client:
            given = client.http.request("PUT", "/courses", headers={"X-Correlation-Id": "journey-7"})
            fresh = client.http.request("TRACE", "/courses")
            documented = client.http.get("/openapi.json")
    finally:
        logger.removeHandler(seen)
    assert given.status_code == 405 and given.headers["X-Correlation-Id"] == "journey-7"  # Chalice's own answer
    assert fresh.headers["X-Correlation-Id"] and documented.headers["X-Correlation-Id"]
    handled = [r for r in seen.records if r["message"] == "request handled"]
    assert [(x["method"], x["resource"], x["status"]) for x in handled] == [
        ("PUT", "/courses", 405), ("TRACE", "/courses", 405), ("GET", "/openapi.json", 200)]
    assert handled[0]["correlation_id"] == "journey-7"
    assert all(len(r["trace_id"]) == 32 for r in handled) and handled[0]["trace_id"] != handled[1]["trace_id"]
