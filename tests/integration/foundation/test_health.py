"""GET /health reports each dependency; 503 when one fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import load_function_module

pytestmark = pytest.mark.integration


@pytest.fixture
def api(in_process_env: dict[str, str], provisioned: Any) -> Any:
    return load_function_module("api").app


def test_health_is_ok_when_postgres_kafka_and_s3_answer(api: Any) -> None:
    with Client(api) as client:
        resp = client.http.get("/health")
    body = json.loads(resp.body)
    assert resp.status_code == 200, body
    assert body["dependencies"] == {"postgres": {"status": "ok"}, "kafka": {"status": "ok"}, "s3": {"status": "ok"}}


def test_health_is_503_and_names_the_failing_dependency(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.settings import load_settings

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens on port 1
    load_settings.cache_clear()
    with Client(api) as client:
        resp = client.http.get("/health")
    body = json.loads(resp.body)
    assert resp.status_code == 503
    assert body["dependencies"]["kafka"]["status"] == "failing"
    assert "127.0.0.1:1" in body["dependencies"]["kafka"]["error"]
    assert body["dependencies"]["postgres"] == {"status": "ok"}


def test_the_checks_run_at_the_same_time(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check waits for the other two at a barrier: one after the other, none would pass it."""
    import threading

    from chalicelib import health

    barrier = threading.Barrier(len(health.CHECKS), timeout=10)
    checks = {name: (lambda check=check: (barrier.wait(), check())) for name, check in health.CHECKS.items()}
    monkeypatch.setattr(health, "CHECKS", checks)
    with Client(api) as client:
        resp = client.http.get("/health")
    body = json.loads(resp.body)
    assert resp.status_code == 200, body
    assert set(body["dependencies"]) == {"postgres", "kafka", "s3"}
