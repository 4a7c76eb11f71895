"""The assistant's honest states in a real browser: right after an instructor publishes (the upload
already `ready`), the assistant panel says the material is being prepared (never "not covered")
and does not let the learner ask; once the AI side makes the version live, the panel updates by
itself and the same question is answered.

Holding the version in "indexing" deterministically: the test holds the course's live-switch lock
(`ai.repository.lock_course`, the transaction-scoped advisory lock IngestFunction takes before it
switches a course's live chunk sets) while it publishes through the API, so the whole real path
(outbox -> relay -> Kafka -> IngestFunction) runs and waits at the switch until the test lets go."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import expect

from smartcourse.ai import repository
from tests.browser.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
WAIT_MS = 60_000  # cold starts, Kafka delivery, the panel's 3 s polling: a wait limit, not a timing assertion
QUESTION = "How long does the Moon take to orbit the Earth?"
NOTES = b"""# Lunar notes

## Orbit

The Moon orbits the Earth once every 27.3 days, a period called the sidereal month.
The cycle of lunar phases takes 29.5 days, the synodic month.
"""


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def _course_with_a_ready_upload(web_stack: WebStack) -> tuple[str, dict[str, str]]:
    """A draft course with one document lesson whose upload is indexed (`ready`), not published."""
    api = web_stack.api
    teacher = web_stack.auth(web_stack.register(web_stack.unique_email("teacher"), "instructor", "Ina Instructor"))
    cid = _ok(api.post("/courses", json={"title": f"Moon states {web_stack.stage}"}, headers=teacher), 201)["id"]
    module = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)["id"]
    created = _ok(api.post(f"/courses/{cid}/assets", headers=teacher, json={
        "filename": "lunar-notes.md", "content_type": "text/markdown", "size": len(NOTES)}), 201)
    upload = created["upload"]
    stored = httpx.post(upload["url"], data=upload["fields"],
                        files={"file": ("lunar-notes.md", NOTES, "text/markdown")}, timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    _ok(api.post(f"/courses/{cid}/modules/{module}/lessons", headers=teacher, json={
        "title": "Lunar notes", "kind": "document", "asset_id": created["asset"]["id"]}), 201)

    def ready() -> bool:
        items = _ok(api.get(f"/courses/{cid}/assets", headers=teacher))["items"]
        return bool(items) and items[0]["status"] == "ready"

    web_stack.eventually("the upload to be indexed", ready)
    return cid, teacher


def test_the_panel_says_being_prepared_while_indexing_then_answers(page: Any, web_stack: WebStack,
                                                                   shot: Any) -> None:
    cid, teacher = _course_with_a_ready_upload(web_stack)
    learner_email = web_stack.unique_email("learner")
    learner = web_stack.auth(web_stack.register(learner_email, "student", "Lou Learner"))

    with psycopg.connect(web_stack.database_url) as hold:
        # Given the course's live switch is held, and the instructor publishes
        repository.lock_course(hold, uuid.UUID(cid))
        _ok(web_stack.api.post(f"/courses/{cid}/publish", headers=teacher), 201)
        _ok(web_stack.api.post(f"/courses/{cid}/enrollments", headers=learner, json={}), 201)
        status = _ok(web_stack.api.get(f"/courses/{cid}/assistant/status", headers=learner))
        assert status == {"live_version": None, "latest_version": 1, "state": "indexing",
                          "documents": {"ready": 1, "processing": 0, "failed": 0}}
        # (over the API, a question asked now is "indexing", never "not covered")
        asked = _ok(web_stack.api.post(f"/courses/{cid}/assistant/ask", headers=learner,
                                       json={"question": QUESTION}))
        assert asked["refused"] is True and asked["reason"] == "indexing", asked

        # When the learner signs in and opens the course
        page.goto("/#/signin")
        page.get_by_label("Email").fill(learner_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue", timeout=WAIT_MS)
        page.goto(f"/#/courses/{cid}")
        # Then the assistant panel says the material is being prepared, and asking waits for it
        state = page.get_by_test_id("assistant-state")
        expect(state).to_contain_text("being prepared", timeout=WAIT_MS)
        expect(state).to_contain_text("(1 of 1 document ready)")
        expect(page.get_by_role("button", name="Ask", exact=True)).to_be_disabled()
        expect(page.get_by_text("do not cover")).to_have_count(0)
        shot(page, "assistant-being-prepared")
        hold.rollback()  # the switch may go ahead

    # When the AI side makes the version live, the panel updates by itself
    expect(state).to_have_text("Assistant: ready.", timeout=WAIT_MS)
    expect(page.locator("#status")).to_contain_text("The course assistant is ready.")
    ask = page.get_by_role("button", name="Ask", exact=True)
    expect(ask).to_be_enabled()
    # And the same question is answered from the material
    page.get_by_label("Your question").fill(QUESTION)
    ask.click()
    answer = page.get_by_test_id("answer").first
    expect(answer.locator(".answer-text")).to_contain_text("27.3 days", timeout=WAIT_MS)
    expect(answer.get_by_role("link", name=re.compile(r"^\[\d+\] Lunar notes"))).to_have_count(1)
    shot(page, "assistant-answers-once-live")
