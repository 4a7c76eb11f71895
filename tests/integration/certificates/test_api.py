"""The certificate routes through the Chalice app in-process (real Postgres and moto)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from chalice.test import Client

from smartcourse.container import reset_all
from testkit.msk import msk_event
from testkit.sessions import session_token
from tests.conftest import load_function_module
from tests.integration.certificates.conftest import Completion, insert_user, outbox, seed_completion

pytestmark = pytest.mark.integration


class Http:
    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        resp = self.client.http.request(method, path, headers=headers,
                                        body=b"" if body is None else json.dumps(body).encode())
        return resp.status_code, (json.loads(resp.body) if resp.body else None)


@pytest.fixture
def http(in_process_env: dict[str, str], provisioned: Any) -> Iterator[Http]:
    module = load_function_module("api")
    reset_all()
    with Client(module.app) as client:
        yield Http(client)


def token(env: dict[str, str], user_id: uuid.UUID, role: str = "student") -> str:
    return session_token(env["DATABASE_URL"], user_id, role, env["JWT_SECRET"])


@pytest.fixture
def issued(in_process_env: dict[str, str], provisioned: Any, db: psycopg.Connection[Any]) -> tuple[Completion, str]:
    """A completion whose certificate the real CertificatesFunction issued."""
    app = load_function_module("certificates")
    reset_all()
    done = seed_completion(db, learner_name="Grace Hopper")
    event = done.event()

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "CertificatesFunction", 1024, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CertificatesFunction"

    assert app.handler(msk_event([event], f"{in_process_env['TOPIC_PREFIX']}.enrollment"), Ctx()) == \
        {"batchItemFailures": []}
    code = db.execute("SELECT code FROM lms.certificates WHERE enrollment_id = %s",
                      (done.enrollment_id,)).fetchone()["code"]
    return done, code


def test_the_owner_lists_and_downloads_the_certificate_others_cannot(
        http: Http, issued: tuple[Completion, str], in_process_env: dict[str, str],
        db: psycopg.Connection[Any]) -> None:
    done, code = issued
    owner = token(in_process_env, done.user_id)
    status, body = http("GET", "/me/certificates", owner)
    assert status == 200
    [mine] = body["items"]
    assert (mine["code"], mine["status"], mine["course_title"], mine["learner_name"]) == \
        (code, "valid", done.course_title, "Grace Hopper")
    assert mine["download_path"] == f"/certificates/{code}/download"
    # the owner gets a short-lived link that really fetches the PDF
    status, link = http("GET", mine["download_path"], owner)
    assert status == 200 and link["expires_in"] == 300
    with urllib.request.urlopen(link["url"], timeout=10) as resp:
        assert resp.read().startswith(b"%PDF-")
    # another student: 403; an admin: 200; nobody: 401; other users' lists do not show it
    stranger = insert_user(db, "Stranger")
    assert http("GET", mine["download_path"], token(in_process_env, stranger))[0] == 403
    assert http("GET", "/me/certificates", token(in_process_env, stranger)) == (200, {"items": []})
    admin = insert_user(db, "Admin", "admin")
    assert http("GET", mine["download_path"], token(in_process_env, admin, "admin"))[0] == 200
    status, body = http("GET", mine["download_path"])
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_public_check_valid_then_revoked_with_reason_and_date_unknown_is_404(
        http: Http, issued: tuple[Completion, str], in_process_env: dict[str, str],
        db: psycopg.Connection[Any]) -> None:
    done, code = issued
    # valid, without any login, and tolerant of how the code was typed
    status, body = http("GET", f"/certificates/{code.lower().replace('-', '')}")
    assert status == 200 and body["status"] == "valid" and body["code"] == code
    assert (body["learner_name"], body["course_title"], body["completed_on"]) == \
        ("Grace Hopper", done.course_title, "2026-11-26")
    # unknown or malformed: a clear 404 saying "unknown", never a 500
    for probe in ("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "nonsense", "%00"):
        status, body = http("GET", f"/certificates/{probe}")
        assert status == 404 and body["status"] == "unknown" and body["error"]["code"] == "certificate_unknown"
    # a student may not revoke; an admin must give a reason
    student = token(in_process_env, done.user_id)
    admin_id = insert_user(db, "Admin", "admin")
    admin = token(in_process_env, admin_id, "admin")
    assert http("POST", f"/certificates/{code}/revoke", student, {"reason": "because"})[0] == 403
    status, body = http("POST", f"/certificates/{code}/revoke", admin, {})
    assert status == 400 and body["error"]["details"][0]["field"] == "reason"
    assert http("POST", f"/certificates/{code}/revoke", admin, {"reason": "x"})[0] == 400
    assert http("POST", "/certificates/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE/revoke", admin, {"reason": "fraud"})[0] == 404
    # revoked: the public check says so, with the reason and the date (200, not 404)
    status, body = http("POST", f"/certificates/{code}/revoke", admin, {"reason": "Academic  misconduct"})
    assert status == 200 and body["status"] == "revoked" and body["revoked_reason"] == "Academic misconduct"
    status, body = http("GET", f"/certificates/{code}")
    assert status == 200 and body["status"] == "revoked"
    assert body["revoked_reason"] == "Academic misconduct" and body["revoked_at"]
    # a second revocation conflicts and keeps the first reason
    status, body = http("POST", f"/certificates/{code}/revoke", admin, {"reason": "again"})
    assert status == 409 and body["error"]["revoked_reason"] == "Academic misconduct"
    # the owner can no longer download it; the list shows it revoked
    status, body = http("GET", f"/certificates/{code}/download", student)
    assert status == 410 and body["error"]["code"] == "certificate_revoked"
    assert http("GET", "/me/certificates", student)[1]["items"][0]["status"] == "revoked"
    # and exactly one certificate.revoked went to the outbox, keyed by the certificate
    [event] = outbox(db, "smartcourse.certificate.revoked.v1", code=code)
    assert event["aggregate_type"] == "certificate"
    assert event["payload"]["data"]["reason"] == "Academic misconduct"
    assert event["payload"]["data"]["revoked_by"] == str(admin_id)


def test_certificate_routes_are_in_the_template_and_the_openapi_document(http: Http) -> None:
    from devstack import template as tpl

    api = tpl.load().function("ApiFunction")
    declared = {(e.path, e.method.upper()) for e in api.api_events}
    for route in [("/me/certificates", "GET"), ("/certificates/{code}", "GET"),
                  ("/certificates/{code}/download", "GET"), ("/certificates/{code}/revoke", "POST")]:
        assert route in declared
    status, doc = http("GET", "/openapi.json")
    assert status == 200
    assert {"/me/certificates", "/certificates/{code}", "/certificates/{code}/download",
            "/certificates/{code}/revoke"} <= set(doc["paths"])
