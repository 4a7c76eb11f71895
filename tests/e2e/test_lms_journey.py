"""The LMS journey over HTTP through the local runtime's API gateway (template.yaml's routes):
an instructor builds a course with an uploaded asset and publishes it; a learner registers,
enrols, progresses and completes; the outbox holds exactly the expected events, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from devstack.runtime import LocalRuntime, RuntimeOptions
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
PASSWORD = "an-e2e-password-long-enough"


@pytest.fixture
def gateway(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any,
            stage: str) -> Iterator[httpx.Client]:
    port = free_port()
    runtime = LocalRuntime(template, function_env,
                           RuntimeOptions(http_port=port, schedules=False, s3=False, msk=False),
                           stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers)
    runtime.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        runtime.stop()


def _ok(resp: httpx.Response, status: int) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def _signed_in(http: httpx.Client, email: str, role: str) -> dict[str, str]:
    _ok(http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role.title(),
                                          "role": role}), 201)
    token = _ok(http.post("/auth/login", json={"email": email, "password": PASSWORD}), 200)["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_instructor_publishes_learner_completes_and_the_outbox_tells_it(
        gateway: httpx.Client, function_env: dict[str, str], stage: str) -> None:
    http = gateway
    teacher = _signed_in(http, f"teacher-{stage}@example.com", "instructor")
    course = _ok(http.post("/courses", json={"title": "E2E course", "description": "over HTTP"}, headers=teacher), 201)
    cid = course["id"]
    module = _ok(http.post(f"/courses/{cid}/modules", json={"title": "Only module"}, headers=teacher), 201)
    content = b"# Week 1\n\nThe relational model.\n"
    created = _ok(http.post(f"/courses/{cid}/assets", headers=teacher,
                            json={"filename": "week1.md", "content_type": "text/markdown", "size": len(content)}), 201)
    upload = created["upload"]
    stored = httpx.post(upload["url"], data=upload["fields"], files={"file": ("week1.md", content, "text/markdown")},
                        timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    asset_id = created["asset"]["id"]
    lessons = [
        _ok(http.post(f"/courses/{cid}/modules/{module['id']}/lessons", headers=teacher,
                      json={"title": "Read week 1", "kind": "document", "asset_id": asset_id}), 201),
        _ok(http.post(f"/courses/{cid}/modules/{module['id']}/lessons", headers=teacher,
                      json={"title": "Summary", "kind": "text", "body": "Tables, rows, keys."}), 201),
    ]
    published = _ok(http.post(f"/courses/{cid}/publish", headers=teacher), 201)
    assert published["version"] == 1

    learner = _signed_in(http, f"learner-{stage}@example.com", "student")
    assert cid in [c["id"] for c in _ok(http.get("/courses", params={"limit": 100}, headers=learner), 200)["items"]]
    enrollment = _ok(http.post(f"/courses/{cid}/enrollments", headers=learner), 201)
    eid = enrollment["id"]
    download = _ok(http.get(f"/courses/{cid}/assets/{asset_id}/download", headers=learner), 200)
    assert httpx.get(download["url"], timeout=30).content == content
    for lesson in lessons:
        _ok(http.put(f"/enrollments/{eid}/lessons/{lesson['id']}/progress", json={"status": "in_progress",
                                                                                  "percent": 50}, headers=learner),
            200)
        done = _ok(http.put(f"/enrollments/{eid}/lessons/{lesson['id']}/progress", json={"status": "completed"},
                            headers=learner), 200)
    assert done["completed"] is True
    progress = _ok(http.get(f"/enrollments/{eid}/progress", headers=learner), 200)
    assert progress["percent"] == 100 and progress["remaining"] == [] and progress["status"] == "completed"

    with psycopg.connect(function_env["DATABASE_URL"], row_factory=dict_row) as conn:
        rows = conn.execute("SELECT event_type, aggregate_type, aggregate_id, correlation_id, payload "
                            "FROM lms.outbox WHERE payload->'data'->>'course_id' = %s ORDER BY seq",
                            (cid,)).fetchall()
    assert [(r["event_type"], r["aggregate_id"]) for r in rows] == [
        ("smartcourse.asset.created.v1", asset_id),
        ("smartcourse.course.published.v1", cid),
        ("smartcourse.enrollment.created.v1", eid),
        ("smartcourse.lesson.completed.v1", eid),
        ("smartcourse.lesson.completed.v1", eid),
        ("smartcourse.course.completed.v1", eid),
    ]
    assert [r["aggregate_type"] for r in rows] == ["asset", "course", "enrollment", "enrollment", "enrollment",
                                                   "enrollment"]
    assert all(r["correlation_id"] for r in rows)
    assert rows[1]["payload"]["data"]["assets"][0]["s3_key"] == created["asset"]["s3_key"]
