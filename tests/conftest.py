"""Shared fixtures. Services are real: PostgreSQL + pgvector, Kafka, moto on :4566.

A stack already running (`make run` / `make stack`, which write .data/stack.json) is reused;
otherwise the test session starts its own in a temporary folder and stops it at the end.
Every session is isolated inside the stack by a random stage: its own database, bucket names
and topic prefix, so concurrent sessions and a running `make run` do not see each other.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "shared", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SmartCourseTests")


STACK_DIR: list[Path] = []


@pytest.fixture(scope="session")
def stack_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from devstack.stack import CACHE_DIR, DATA_DIR, Stack, running_stack

    ep = running_stack()
    if ep is not None:
        STACK_DIR.append(DATA_DIR)
        yield ep
        return
    stack = Stack(tmp_path_factory.mktemp("stack"), CACHE_DIR, ephemeral=True)
    STACK_DIR.append(stack.data_dir)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack_dir(stack_endpoints: Any) -> Path:
    """The data folder of the stack in use (its stack.json lets `devstack invoke` find it)."""
    return STACK_DIR[-1]


@pytest.fixture(scope="session")
def stage() -> str:
    return "t" + secrets.token_hex(4)


@pytest.fixture(scope="session")
def database_url(stack_endpoints: Any, stage: str) -> Iterator[str]:
    """A fresh, migrated database for this session."""
    from devstack.postgres import drop_database, ensure_database
    from smartcourse import migrate

    name = f"sc_{stage}"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    migrate.apply(url)
    yield url
    drop_database(stack_endpoints.admin_database_url, name)


@pytest.fixture(scope="session")
def template(stage: str) -> Any:
    from devstack import template as tpl

    return tpl.load(parameter_overrides={"Stage": stage})


@pytest.fixture(scope="session")
def provisioned(stack_endpoints: Any, stage: str, template: Any) -> dict[tuple[str, str], str]:
    """Buckets, S3 -> SQS notifications and Kafka topics for this session's stage."""
    from devstack.provision import ensure_buckets_and_notifications, ensure_topics, topic_specs
    from devstack.stack import aws_clients

    s3, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    queues = ensure_buckets_and_notifications(template, stage, s3, sqs)
    ensure_topics(stack_endpoints.kafka_bootstrap_servers, topic_specs(f"smartcourse.{stage}"))
    return queues


@pytest.fixture(scope="session")
def function_env(stack_endpoints: Any, stage: str, database_url: str) -> dict[str, str]:
    """What every function sees locally for this session (as the runtime passes it). Every request
    of the suite comes from 127.0.0.1 and the fuzzing signs in with wrong passwords by the
    thousand, so the per-address sign-in limit is raised here (tests/integration/accounts test the
    limits with their own settings)."""
    from devstack.stack import local_overrides

    return {**local_overrides(stack_endpoints, stage, database_url), "SIGN_IN_ADDRESS_FAILURES": "1000000"}


def apply_function_env(mp: pytest.MonkeyPatch, template: Any, function_env: dict[str, str]) -> dict[str, str]:
    """Sets the functions' template environment plus the local overrides in this process (for
    chalice.test.Client and direct handler calls) and forgets the settings and every function's
    built dependencies (`container.reset_all`), as a fresh Lambda container would. Every
    function's variables are merged, so one process can host the handlers a test needs
    (POWERTOOLS_SERVICE_NAME is then the last function's)."""
    from smartcourse.container import reset_all

    env = {}
    for spec in template.functions.values():
        env.update({k: v for k, v in spec.environment.items() if v})
    env.update(function_env)
    for k, v in env.items():
        if v:
            mp.setenv(k, v)
        else:
            mp.delenv(k, raising=False)
    reset_all()
    return env


@pytest.fixture
def in_process_env(function_env: dict[str, str], template: Any,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from smartcourse.container import reset_all

    yield apply_function_env(monkeypatch, template, function_env)
    reset_all()


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now (all held open while choosing)."""
    import contextlib
    import socket

    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for gateways and private brokers in tests)."""
    return free_ports(1)[0]


def load_function_module(function_dir: str, module: str = "app") -> Any:
    """Import a function's handler module under a unique name (every function has an app.py)."""
    import importlib.util

    path = ROOT / "functions" / function_dir / f"{module}.py"
    name = f"_fn_{function_dir}_{module}"
    if name in sys.modules:
        return sys.modules[name]
    fn_dir = str(path.parent)
    if fn_dir not in sys.path:
        sys.path.insert(0, fn_dir)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
