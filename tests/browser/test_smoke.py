"""Smoke: the web app loads in headless Chromium from the devstack web server, reads config.json
and renders its first screen without a JavaScript error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserLog, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_the_app_loads_reads_its_config_and_renders_the_first_screen(
        page: Any, web_stack: WebStack, browser_log: BrowserLog, shot: Any) -> None:
    # Given the web server pointed at the local API
    # When a browser opens the app's root
    with page.expect_response(lambda r: r.url == f"{web_stack.web_url}/config.json") as config:
        index = page.goto("/")

    # Then index.html is served as HTML, and config.json names the local API
    assert index is not None and index.status == 200
    assert index.headers["content-type"].startswith("text/html")
    assert config.value.status == 200
    assert config.value.json() == {"apiBaseUrl": web_stack.api_url, "stage": web_stack.stage}
    # And the first screen replaces the loading placeholder with a heading
    main = page.locator("#main")
    expect(main).not_to_contain_text("Loading…")
    expect(main.locator("h1")).to_be_visible()
    assert "SmartCourse" in page.title()
    shot(page, "first-screen")
    # And nothing the page asked for failed (the page fixture fails the test on uncaught errors)
    assert browser_log.failed_requests == [], browser_log.summary()
