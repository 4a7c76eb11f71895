"""The certificate journey through the local runtime, wired only by template.yaml: a learner
completes the last lesson over HTTP; the relay (on a fast schedule) puts course.completed on the
enrollment topic; the MSK mapping drives CertificatesFunction; the certificate shows up in
GET /me/certificates by itself, verifies publicly, downloads, and after revocation the public check
says revoked, with the reason. A learner whose name no bundled font can draw ends on the
dead-letter topic with the reason in its headers. NotificationsFunction, on the same topics, tells
the learner (enrolled, certificate issued, revoked) and the instructor (course full), and learners
about a new version's changed lessons."""

from __future__ import annotations

import io
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from devstack.observe import read_lines, timeline
from devstack.runtime import LocalRuntime, RuntimeOptions
from testkit.polling import eventually
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
PASSWORD = "a-long-enough-password"


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json",
                                              **({"authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, token: str | None = None, body: Any = None, status: int = 200) -> Any:
        got, payload = self(method, path, token, body)
        assert got == status, (method, path, got, payload)
        return payload

    def user(self, name: str, role: str = "student") -> str:
        email = f"{role}-{secrets.token_hex(5)}@example.com"
        self.ok("POST", "/auth/register", body={"email": email, "password": PASSWORD, "name": name, "role": role},
                status=201)
        return str(self.ok("POST", "/auth/login", body={"email": email, "password": PASSWORD})["access_token"])


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("function-logs")


@pytest.fixture(scope="module")
def runtime(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any,
            stage: str, log_dir: Path) -> Iterator[Http]:
    from devstack.stack import aws_clients

    port = free_port()
    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    rt = LocalRuntime(template, function_env,
                      RuntimeOptions(http_port=port, schedule_rate_s=0.5, s3=False, log_dir=log_dir,
                                     only_functions={"ApiFunction", "OutboxRelayFunction", "CertificatesFunction",
                                                     "NotificationsFunction"}),
                      stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                      s3_queues=provisioned)
    rt.start()
    try:
        assert rt.wait_for_consumers(90), "the MSK mapping's consumer got no partitions"
        yield Http(f"http://127.0.0.1:{port}")
    finally:
        rt.stop()


def complete_a_course(http: Http, learner_name: str, last_request_headers: dict[str, str] | None = None
                      ) -> tuple[str, str]:
    """An instructor publishes a two-lesson course; a learner enrolls and completes it over HTTP
    (the last progress update sent with `last_request_headers`)."""
    teacher = http.user("Dr. Ada Lovelace", "instructor")
    title = f"Relational Databases {secrets.token_hex(2)}"
    course = http.ok("POST", "/courses", teacher, {"title": title, "description": "SQL"}, 201)
    module = http.ok("POST", f"/courses/{course['id']}/modules", teacher, {"title": "Basics"}, 201)
    lessons = [http.ok("POST", f"/courses/{course['id']}/modules/{module['id']}/lessons", teacher,
                       {"title": f"Lesson {i}", "kind": "text", "body": "text"}, 201)["id"] for i in (1, 2)]
    http.ok("POST", f"/courses/{course['id']}/publish", teacher, status=201)
    learner = http.user(learner_name)
    enrollment = http.ok("POST", f"/courses/{course['id']}/enrollments", learner, {}, 201)
    for i, lesson in enumerate(lessons):
        path = f"/enrollments/{enrollment['id']}/lessons/{lesson}/progress"
        if i == len(lessons) - 1 and last_request_headers:
            req = urllib.request.Request(http.base + path, data=json.dumps({"status": "completed"}).encode(),
                                         method="PUT", headers={"content-type": "application/json",
                                                                "authorization": f"Bearer {learner}",
                                                                **last_request_headers})
            with urllib.request.urlopen(req, timeout=30) as resp:
                done = json.loads(resp.read())
                assert resp.headers["X-Correlation-Id"] == last_request_headers.get("X-Correlation-Id",
                                                                                    resp.headers["X-Correlation-Id"])
        else:
            done = http.ok("PUT", path, learner, {"status": "completed"})
        assert done["completed"] is (i == len(lessons) - 1)
    return learner, title


def test_completion_issues_a_certificate_that_verifies_publicly_until_revoked(
        runtime: Http, database_url: str) -> None:
    http = runtime
    learner, title = complete_a_course(http, "Zoë Ångström")
    # The certificate appears by itself: relay -> Kafka -> CertificatesFunction
    items = eventually("the certificate", lambda: http.ok("GET", "/me/certificates", learner)["items"], timeout=90)
    [cert] = items
    code = cert["code"]
    assert (cert["status"], cert["learner_name"], cert["course_title"], cert["instructor_name"]) == \
        ("valid", "Zoë Ångström", title, "Dr. Ada Lovelace")
    # It verifies publicly, without a login, at the URL printed in its QR code
    status, check = http("GET", f"/certificates/{code}")
    assert status == 200 and check["status"] == "valid" and check["learner_name"] == "Zoë Ångström"
    assert check["verify_url"].endswith(f"/certificates/{code}")
    check_url = check["verify_url"]
    # The owner downloads the PDF through a short-lived link; it carries the printed facts
    link = http.ok("GET", f"/certificates/{code}/download", learner)
    with urllib.request.urlopen(link["url"], timeout=30) as resp:
        text = PdfReader(io.BytesIO(resp.read())).pages[0].extract_text()
    for printed in ("Zoë Ångström", title, "Dr. Ada Lovelace", code, cert["completed_on"]):
        assert printed in text
    # An admin revokes it with a reason; the public check says revoked, with the reason and date
    from smartcourse.lms.cli import create_admin

    email = f"admin-{secrets.token_hex(4)}@example.com"
    create_admin(database_url, email, "Admin", PASSWORD)
    admin = http.ok("POST", "/auth/login", body={"email": email, "password": PASSWORD})["access_token"]
    assert http("POST", f"/certificates/{code}/revoke", learner, {"reason": "mine"})[0] == 403
    http.ok("POST", f"/certificates/{code}/revoke", admin, {"reason": "Issued for the wrong learner"})
    status, check = http("GET", f"/certificates/{code}")
    assert status == 200 and check["status"] == "revoked"
    assert check["revoked_reason"] == "Issued for the wrong learner" and check["revoked_at"]
    # Unknown codes are a clear 404 "unknown"
    status, check = http("GET", "/certificates/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")
    assert status == 404 and check["status"] == "unknown"
    # The learner was told each step through Kafka -> NotificationsFunction, newest first
    def told() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = http.ok("GET", "/me/notifications", learner)["items"]
        return items if {i["type"] for i in items} >= {"enrollment_confirmed", "certificate_issued",
                                                        "certificate_revoked"} else []

    inbox = {i["type"]: i for i in eventually("the learner's notifications", told, timeout=90)}
    assert title in inbox["enrollment_confirmed"]["title"]
    assert inbox["certificate_issued"]["link"] == check_url
    assert inbox["certificate_revoked"]["body"] == "Reason: Issued for the wrong learner"


def test_an_unrenderable_name_is_parked_on_the_dead_letter_topic_with_its_reason(
        runtime: Http, stack_endpoints: Any, stage: str) -> None:
    from kafka import KafkaConsumer

    dlq = KafkaConsumer(f"smartcourse.{stage}.dlq", bootstrap_servers=stack_endpoints.kafka_bootstrap_servers,
                        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000,
                        group_id=f"e2e-dlq-{secrets.token_hex(3)}")
    try:
        learner, _ = complete_a_course(runtime, "Linear B \U00010000")
        parked: list[Any] = []

        def the_record() -> bool:
            for rec in dlq:
                headers = {k: v.decode() for k, v in rec.headers or []}
                if headers.get("x-consumer") == "certificates":
                    parked.append((json.loads(rec.value), headers))
            return bool(parked)

        eventually("the dead-lettered course.completed", the_record, timeout=120)
        envelope, headers = parked[-1]
        assert envelope["type"] == "smartcourse.course.completed.v1"
        assert headers["x-error-type"] == "RenderError"
        assert "U+10000 LINEAR B SYLLABLE B008 A" in headers["x-failure-reason"]
        assert runtime.ok("GET", "/me/certificates", learner) == {"items": []}
    finally:
        dlq.close()


def test_one_trace_follows_the_completion_from_the_api_through_kafka_to_the_certificate(
        runtime: Http, log_dir: Path) -> None:
    # Given the learner's last progress update carries its own correlation id and a W3C traceparent
    cid = f"journey-{secrets.token_hex(6)}"
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    learner, _ = complete_a_course(runtime, "Grace Hopper", {"X-Correlation-Id": cid, "traceparent": parent})
    eventually("the certificate", lambda: runtime.ok("GET", "/me/certificates", learner)["items"], timeout=90)

    # Then `devstack trace` shows the API, the relay and the certificates function, in that order
    def steps() -> list[str]:
        found = timeline(read_lines(log_dir), cid)
        functions = [s.function for s in found]
        return functions if "CertificatesFunction" in functions else []

    functions = eventually("the certificates function's log lines", steps, timeout=30)
    firsts = [f for i, f in enumerate(functions) if f not in functions[:i]]
    assert firsts[:3] == ["ApiFunction", "OutboxRelayFunction", "CertificatesFunction"], functions
    # And every line of that request, in every function, carries the caller's trace id: the
    # traceparent went API -> outbox row -> Kafka header -> consumer
    lines = [(fn, line) for fn, line in read_lines(log_dir) if line.get("correlation_id") == cid]
    assert {line.get("trace_id") for _, line in lines} == {trace_id}, lines
    consumed = [line for fn, line in lines if fn == "CertificatesFunction" and line["message"] == "record processed"]
    assert consumed and all(line["linked_span_id"] for line in consumed)


def test_a_full_course_and_a_new_version_are_notified_through_kafka(runtime: Http) -> None:
    http = runtime
    teacher = http.user("Grace Teacher", "instructor")
    course = http.ok("POST", "/courses", teacher, {"title": f"Compilers {secrets.token_hex(2)}", "capacity": 1}, 201)
    module = http.ok("POST", f"/courses/{course['id']}/modules", teacher, {"title": "Parsing"}, 201)
    lesson = http.ok("POST", f"/courses/{course['id']}/modules/{module['id']}/lessons", teacher,
                     {"title": "Grammars", "kind": "text", "body": "v1"}, 201)
    http.ok("POST", f"/courses/{course['id']}/publish", teacher, status=201)
    learner = http.user("Alan Learner")
    http.ok("POST", f"/courses/{course['id']}/enrollments", learner, {}, 201)
    # The one place is taken: the instructor hears it
    full = eventually("the instructor's milestone", lambda: http.ok("GET", "/me/notifications", teacher)["items"],
                      timeout=90)
    assert [i["type"] for i in full] == ["enrollment_milestone"] and "is full (1 place)" in full[0]["title"]
    # A new version changes the lesson: the enrolled learner hears which
    http.ok("PATCH", f"/courses/{course['id']}/modules/{module['id']}/lessons/{lesson['id']}", teacher,
            {"body": "v2, clearer"})
    http.ok("POST", f"/courses/{course['id']}/publish", teacher, status=201)

    def updated() -> list[dict[str, Any]]:
        items = http.ok("GET", "/me/notifications?unread=true", learner)["items"]
        return [i for i in items if i["type"] == "course_updated"]

    [news] = eventually("the learner's course update", updated, timeout=90)
    assert news["body"] == "New or changed: Grammars." and news["link"] == f"#/courses/{course['id']}"
