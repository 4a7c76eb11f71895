"""Fixtures for the security tests: the whole HTTP surface (API + assistant) behind the local
gateway on a free port, and a signed-in user of each role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack.runtime import LocalRuntime, RuntimeOptions
from tests.conftest import free_port

PASSWORD = "a-long-enough-password"
HTTP_FUNCTIONS = {"ApiFunction", "AssistantFunction", "AnalyticsFunction"}


@dataclass
class Gateway:
    base_url: str
    client: httpx.Client
    tokens: dict[str, str]          # role -> access token (student, instructor, admin)
    users: dict[str, dict[str, Any]]


def sign_in(client: httpx.Client, role: str) -> tuple[str, dict[str, Any]]:
    email = f"sec-{role}-{secrets.token_hex(4)}@example.com"
    r = client.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role.title(), "role": role})
    assert r.status_code == 201, r.text
    login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"]), r.json()["user"]


@pytest.fixture(scope="session")
def gateway(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any,
            stage: str, database_url: str) -> Iterator[Gateway]:
    from devstack.stack import aws_clients
    from smartcourse.lms.cli import create_admin

    port = free_port()
    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    runtime = LocalRuntime(template, {**function_env, "GROQ_API_KEY": "", "GROQ_API_KEY_SECRET_ARN": ""},
                           RuntimeOptions(http_port=port, schedules=False, s3=False, msk=False,
                                          only_functions=HTTP_FUNCTIONS),
                           stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                           s3_queues=provisioned)
    runtime.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            tokens: dict[str, str] = {}
            users: dict[str, dict[str, Any]] = {}
            for role in ("student", "instructor"):
                tokens[role], users[role] = sign_in(client, role)
            email = f"sec-admin-{secrets.token_hex(4)}@example.com"
            users["admin"] = dict(create_admin(database_url, email, "Admin", PASSWORD))
            login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            tokens["admin"] = str(login.json()["access_token"])
            yield Gateway(base, client, tokens, users)
    finally:
        runtime.stop()
