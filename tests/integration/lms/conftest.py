"""Fixtures for the LMS API tests: the Chalice app on this session's real Postgres and moto."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from chalice.test import Client
from psycopg.rows import dict_row

from tests.conftest import load_function_module

PASSWORD = "a-long-enough-password"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]  # names in lower case

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


class Api:
    """A thin JSON client over chalice.test.Client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, method: str, path: str, token: str | None = None, json_body: Any = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        h = {"content-type": "application/json", **(headers or {})}
        if token:
            h["authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (b"" if json_body is None else json.dumps(json_body).encode())
        resp = self.client.http.request(method, path, headers=h, body=data)
        body = json.loads(resp.body) if resp.body else None
        return Reply(resp.status_code, body, {k.lower(): v for k, v in resp.headers.items()})

    def user(self, role: str = "student", name: str | None = None) -> tuple[str, dict[str, Any]]:
        """Registers a fresh user and logs in: (token, user)."""
        email = f"{role}-{secrets.token_hex(5)}@example.com"
        r = self.call("POST", "/auth/register", json_body={"email": email, "password": PASSWORD,
                                                           "name": name or role.title(), "role": role})
        assert r.status == 201, r
        login = self.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD})
        assert login.status == 200, login
        return login.body["access_token"], r.body["user"]

    def published_course(self, token: str, lessons: int = 2, **course: Any) -> dict[str, Any]:
        """A course with one module of `lessons` required text lessons, published (version 1)."""
        c = self.call("POST", "/courses", token, {"title": "Course " + secrets.token_hex(3),
                                                  "description": "d", **course})
        assert c.status == 201, c
        m = self.call("POST", f"/courses/{c.body['id']}/modules", token, {"title": "Module 1"})
        assert m.status == 201, m
        ids = []
        for i in range(lessons):
            x = self.call("POST", f"/courses/{c.body['id']}/modules/{m.body['id']}/lessons", token,
                          {"title": f"Lesson {i + 1}", "kind": "text", "body": f"Body {i + 1}"})
            assert x.status == 201, x
            ids.append(x.body["id"])
        p = self.call("POST", f"/courses/{c.body['id']}/publish", token)
        assert p.status == 201, p
        return {"course": p.body["course"], "module_id": m.body["id"], "lesson_ids": ids}


def admin_token(database_url: str, api_module: Any) -> tuple[str, uuid.UUID]:
    """Admins are created by the CLI, never the API: insert one as the CLI does."""
    from smartcourse.lms.cli import create_admin

    user = create_admin(database_url, f"admin-{secrets.token_hex(4)}@example.com", "Admin", PASSWORD)
    from chalicelib import deps  # the function's own config (JWT secret from settings)
    from testkit.sessions import session_token

    return session_token(database_url, user["id"], "admin", deps.config().jwt_secret), user["id"]


@pytest.fixture
def api_module(in_process_env: dict[str, str], provisioned: Any) -> Any:
    module = load_function_module("api")
    from smartcourse.container import reset_all

    reset_all()
    return module


@pytest.fixture
def api(api_module: Any) -> Iterator[Api]:
    with Client(api_module.app) as client:
        yield Api(client)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def outbox(conn: psycopg.Connection[Any], **where: str) -> list[dict[str, Any]]:
    """Outbox rows (in commit order) whose payload data matches every key=value given."""
    rows = conn.execute("SELECT event_type, aggregate_type, aggregate_id, correlation_id, payload "
                        "FROM lms.outbox ORDER BY seq").fetchall()
    return [r for r in rows if all(r["payload"]["data"].get(k) == v for k, v in where.items())]
