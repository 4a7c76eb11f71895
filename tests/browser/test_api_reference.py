"""The interactive API reference (web/reference.html): served with the web app under its CSP, it
renders every operation of the API's own /openapi.json, the assistant's included, with the limits
the validation enforces, and sends a request from the page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserLog, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_the_reference_lists_every_operation_with_its_limits_and_tries_one(
        page: Any, web_stack: WebStack, browser_log: BrowserLog, shot: Any) -> None:
    doc = web_stack.api.get("/openapi.json").json()
    operations = sum(1 for ops in doc["paths"].values() for m in ops if m in ("get", "post", "put", "patch", "delete"))
    # When a browser opens the reference
    page.goto("/reference.html")
    # Then every operation of the document is listed, grouped by area, the assistant's among them
    cards = page.locator("details.reference-op")
    expect(cards).to_have_count(operations)
    expect(page.locator("#tag-assistant")).to_be_visible()
    ask = page.locator(f"details#{doc['paths']['/courses/{course_id}/assistant/ask']['post']['operationId']}")
    ask.locator("summary").click()
    # with the request body's fields and the limits the API enforces, and its 429/503 statuses
    expect(ask.locator("table").first).to_contain_text("question")  # the request body
    expect(ask.locator("table").first).to_contain_text("1-1000 chars")
    expect(ask.locator("table").nth(1)).to_contain_text("citations")  # the 200 response
    expect(ask).to_contain_text("429")
    # And "Try it" sends the request and shows the answer with its correlation id
    health = page.locator(f"details#{doc['paths']['/health']['get']['operationId']}")
    health.locator("summary").click()
    health.get_by_role("button", name="Send").click()
    expect(health.locator(".reference-response")).to_contain_text("200")
    expect(health.locator(".reference-response")).to_contain_text("X-Correlation-Id")
    expect(health.locator(".reference-response")).to_contain_text('"postgres"')
    shot(page, "reference")
    assert browser_log.failed_requests == [] and browser_log.csp_violations == [], browser_log.summary()
