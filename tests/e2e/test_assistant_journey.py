"""The assistant journey through the local runtime, wired only by template.yaml: an instructor
uploads a PDF (presigned POST -> S3 -> IngestFunction indexes it), builds a lesson on it and
publishes (outbox -> relay -> Kafka -> IngestFunction makes the version live); a learner enrols
and asks AssistantFunction over HTTP, and the answer cites that asset's page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fpdf import FPDF

from devstack.runtime import LocalRuntime, RuntimeOptions
from testkit.polling import eventually
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
PASSWORD = "an-e2e-password-long-enough"
FUNCTIONS = {"ApiFunction", "OutboxRelayFunction", "IngestFunction", "AssistantFunction"}


def pdf(pages: list[str]) -> bytes:
    doc = FPDF()
    doc.set_title("Lunar science notes")
    for text in pages:
        doc.add_page()
        doc.set_font("Helvetica", size=12)
        doc.multi_cell(0, 8, text)
    return bytes(doc.output())


@pytest.fixture
def http(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any,
         stage: str) -> Iterator[httpx.Client]:
    from devstack.stack import aws_clients

    port = free_port()
    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    runtime = LocalRuntime(template, {**function_env, "GROQ_API_KEY": "", "GROQ_API_KEY_SECRET_ARN": ""},
                           RuntimeOptions(http_port=port, schedule_rate_s=0.5, only_functions=FUNCTIONS),
                           stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                           s3_queues=provisioned)
    runtime.start()
    try:
        assert runtime.wait_for_consumers(90), "the MSK mapping's consumer got no partitions"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            yield client
    finally:
        runtime.stop()


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def signed_in(http: httpx.Client, email: str, role: str) -> dict[str, str]:
    ok(http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role.title(), "role": role}),
       201)
    token = ok(http.post("/auth/login", json={"email": email, "password": PASSWORD}))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_upload_publish_enrol_ask_cites_the_assets_page(http: httpx.Client, stage: str) -> None:
    teacher = signed_in(http, f"teacher-asst-{stage}@example.com", "instructor")
    cid = ok(http.post("/courses", json={"title": "Lunar science", "description": "The Moon"}, headers=teacher),
             201)["id"]
    module = ok(http.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)
    content = pdf([
        "Introduction. This course studies the Earth's natural satellite and how we observe it.",
        "Orbit. The Moon orbits the Earth once every 27.3 days, a period called the sidereal month. "
        "The cycle of lunar phases takes 29.5 days, the synodic month.",
    ])
    # Given an uploaded PDF, presented by a lesson, in a published course
    created = ok(http.post(f"/courses/{cid}/assets", headers=teacher,
                           json={"filename": "lunar-notes.pdf", "content_type": "application/pdf",
                                 "size": len(content)}), 201)
    upload = created["upload"]
    stored = httpx.post(upload["url"], data=upload["fields"],
                        files={"file": ("lunar-notes.pdf", content, "application/pdf")}, timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    asset_id = created["asset"]["id"]
    lesson = ok(http.post(f"/courses/{cid}/modules/{module['id']}/lessons", headers=teacher,
                          json={"title": "Lunar notes (PDF)", "kind": "document", "asset_id": asset_id}), 201)
    ok(http.post(f"/courses/{cid}/publish", headers=teacher), 201)

    # And an enrolled learner
    learner = signed_in(http, f"learner-asst-{stage}@example.com", "student")
    ok(http.post(f"/courses/{cid}/enrollments", headers=learner), 201)
    outsider = signed_in(http, f"outsider-asst-{stage}@example.com", "student")

    # When the version is live (course search finds the PDF's text)...
    def searchable() -> Any:
        items = ok(http.get(f"/courses/{cid}/search", params={"q": "sidereal month"}, headers=learner))["items"]
        return items if items and items[0]["asset_id"] == asset_id else None

    hits = eventually("the published PDF to be searchable", searchable, timeout=240, every=2.0)
    assert hits[0]["location"]["page"] == 2 and hits[0]["lesson_id"] == lesson["id"]

    # ...the learner asks, and the answer cites that asset's page
    answer = ok(http.post(f"/courses/{cid}/assistant/ask", headers=learner,
                          json={"question": "How long does the Moon take to orbit the Earth?"}))
    assert answer["refused"] is False and "27.3 days" in answer["answer"]
    cited = [c for c in answer["citations"] if c["asset_id"] == asset_id]
    assert cited and cited[0]["location"]["page"] == 2 and cited[0]["lesson_id"] == lesson["id"]
    assert cited[0]["title"] == "Lunar notes (PDF)" and f"[{cited[0]['n']}]" in answer["answer"]

    # The exchange is kept, feedback lands, and others may not ask
    conv = ok(http.get(f"/courses/{cid}/assistant/conversations/{answer['conversation_id']}", headers=learner))
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"]
    ok(http.post(f"/courses/{cid}/assistant/conversations/{answer['conversation_id']}/messages/"
                 f"{answer['message_id']}/feedback", json={"helpful": True}, headers=learner))
    denied = http.post(f"/courses/{cid}/assistant/ask", headers=outsider, json={"question": "Orbit?"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert http.post(f"/courses/{cid}/assistant/ask", json={"question": "Orbit?"}).status_code == 401
