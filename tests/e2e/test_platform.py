"""The real template through the local runtime: the gateway, and `invoke` for every sample event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devstack.runtime import LocalRuntime, RuntimeOptions
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EVENT_FILES = sorted((ROOT / "events").glob("*/*.json"))


def test_health_through_the_gateway_reports_every_dependency_ok(
        template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any, stage: str) -> None:
    port = free_port()
    runtime = LocalRuntime(template, function_env, RuntimeOptions(http_port=port, schedules=False, s3=False,
                                                                  msk=False), stage=stage,
                           kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers)
    runtime.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as resp:
            body = json.loads(resp.read())
            assert resp.status == 200
            assert resp.headers["X-Correlation-Id"]
    finally:
        runtime.stop()
    assert {k: v["status"] for k, v in body["dependencies"].items()} == {"postgres": "ok", "kafka": "ok", "s3": "ok"}


def test_there_is_a_sample_event_for_every_function(template: Any) -> None:
    have = {p.parent.name for p in EVENT_FILES}
    missing = set(template.functions) - have
    assert not missing, f"functions without events/<Function>/*.json: {missing}"


@pytest.mark.parametrize("event_file", EVENT_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_invoke_runs_each_sample_event(event_file: Path, stack_dir: Path, function_env: dict[str, str],
                                       provisioned: Any, stage: str) -> None:
    env = {**os.environ, "DEVSTACK_DATA_DIR": str(stack_dir), "DEVSTACK_STAGE": stage,
           "DATABASE_URL": function_env["DATABASE_URL"], "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "devstack", "invoke", event_file.parent.name, "--event", str(event_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    json.loads(proc.stdout)  # the function's result, printed as JSON
    assert f"# {event_file.parent.name}: ok" in proc.stderr
