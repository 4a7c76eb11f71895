"""Time on task in a real browser: a learner enrols (the enrolment travels API -> outbox -> relay ->
Kafka -> AnalyticsFunction), opens a lesson, and the page sends the heartbeat while it is visible and
focused; the minute is counted, and the instructor's funnel and overview show the lesson started
with one minute on it."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
expect.set_options(timeout=30_000)


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def test_an_open_focused_lesson_counts_its_minute_on_task(page: Any, web_stack: WebStack) -> None:
    api = web_stack.api
    teacher = web_stack.auth(web_stack.register(web_stack.unique_email("tot-teacher"), "instructor", "Tia Timer"))
    cid = _ok(api.post("/courses", json={"title": f"Timing {web_stack.stage}", "description": "d"}, headers=teacher),
              201)["id"]
    module = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)["id"]
    lesson = _ok(api.post(f"/courses/{cid}/modules/{module}/lessons", headers=teacher, json={
        "title": "Reading", "kind": "text", "body": "Read this slowly."}), 201)["id"]
    _ok(api.post(f"/courses/{cid}/publish", headers=teacher), 201)
    email = web_stack.unique_email("tot-learner")
    learner = web_stack.auth(web_stack.register(email, "student", "Lou Learner"))
    enrolment = _ok(api.post(f"/courses/{cid}/enrollments", headers=learner), 201)["id"]

    def analytics_knows() -> bool:
        with psycopg.connect(web_stack.database_url) as conn:
            return conn.execute("SELECT 1 FROM analytics.learners WHERE enrollment_id = %s",
                                (enrolment,)).fetchone() is not None
    web_stack.eventually("the enrolment reaches AnalyticsFunction", analytics_knows, timeout=120)

    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")
    with page.expect_response(lambda r: r.url.endswith(f"/lessons/{lesson}/heartbeat")
                              and r.request.method == "POST") as beat:
        page.goto(f"/#/courses/{cid}/lessons/{lesson}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Reading")
    assert beat.value.status == 200 and beat.value.json()["counted"] is True

    funnel = _ok(api.get(f"/courses/{cid}/analytics/lessons", headers=teacher))["items"]
    assert [(x["title"], x["started"], x["completed"], x["median_minutes"]) for x in funnel] == [
        ("Reading", 1, 0, 1.0)]
    overview = _ok(api.get(f"/courses/{cid}/analytics/overview", headers=teacher))
    assert overview["enrolled"] == 1 and overview["active_7d"] == 1
