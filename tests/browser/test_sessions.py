"""Sessions in a real browser: the access token lives in sessionStorage (15 min), the refresh token
only in the HttpOnly cookie sc_refresh (Path=/auth) that the API sets on the app's credentialed
/auth calls. An invalid or expired access token is renewed silently through the cookie (one refresh
for concurrent requests); "Sign out everywhere" in one browser ends the session of another; a
password change from the account page keeps this browser signed in and retires the old password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEFAULT_TIMEOUT_MS, PASSWORD, BrowserLog, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# Cold starts and Argon2id: a wait limit, not a timing assertion.
expect.set_options(timeout=30_000)

SESSION_KEY = "smartcourse.session"
REFRESH_COOKIE = "sc_refresh"
NEW_PASSWORD = "a-brand-new-browser-password"


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")


def refresh_cookie(page: Any) -> dict[str, Any] | None:
    return next((c for c in page.context.cookies() if c["name"] == REFRESH_COOKIE), None)


def stored_session(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(f"() => JSON.parse(sessionStorage.getItem('{SESSION_KEY}'))"))


def tamper(page: Any, js: str) -> None:
    """Rewrites the tab's stored session: `js` changes `s` (e.g. "s.token = 'x'")."""
    page.evaluate(f"""() => {{ const s = JSON.parse(sessionStorage.getItem('{SESSION_KEY}')); {js};
        sessionStorage.setItem('{SESSION_KEY}', JSON.stringify(s)); }}""")


class Traffic:
    """The API calls a page made: refreshes and 401 answers."""

    def __init__(self, page: Any, api_url: str) -> None:
        self.refreshes: list[int] = []
        self.unauthorized: list[str] = []

        def on_response(resp: Any) -> None:
            if not resp.url.startswith(api_url) or resp.request.method == "OPTIONS":
                return
            if resp.url == f"{api_url}/auth/refresh":
                self.refreshes.append(resp.status)
            elif resp.status == 401:
                self.unauthorized.append(f"{resp.request.method} {resp.url}")

        page.on("response", on_response)


@pytest.fixture
def second_page(browser: Any, web_stack: WebStack, browser_log: BrowserLog) -> Iterator[Any]:
    """Another browser (its own cookies and storage) on the app, watched like `page`."""
    context = browser.new_context(base_url=web_stack.web_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield browser_log.watch(context.new_page())
    finally:
        context.close()


def test_an_invalid_or_expired_access_token_is_renewed_through_the_cookie(
        page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("renewer")
    web_stack.register(email, name="Rene Renewer")
    traffic = Traffic(page, web_stack.api_url)
    sign_in(page, email)

    # The refresh token is in the HttpOnly cookie, scoped to /auth, and nowhere a script can read
    cookie = refresh_cookie(page)
    assert cookie is not None, page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/auth", cookie
    storage = page.evaluate("() => JSON.stringify([{...sessionStorage}, {...localStorage}])")
    assert cookie["value"] not in storage
    assert "refresh" not in stored_session(page)
    assert REFRESH_COOKIE not in page.evaluate("document.cookie")

    # When the stored access token stops being accepted (garbage) and the user moves on to a page
    # that asks the API two things at once
    tamper(page, "s.token = 'garbage.token.value'")
    page.get_by_role("link", name="My certificates").click()

    # Then both 401s share ONE refresh, the page renders signed in, with a new token and cookie
    expect(page.get_by_role("heading", level=1)).to_have_text("My certificates")
    expect(page.get_by_role("link", name=re.compile("Your account"))).to_contain_text("Rene Renewer")
    assert traffic.refreshes == [200], traffic.refreshes
    assert stored_session(page)["token"] != "garbage.token.value"
    rotated = refresh_cookie(page)
    assert rotated is not None and rotated["value"] != cookie["value"]
    shot(page, "renewed-after-401")

    # When the access token has expired while the tab was away, and the tab is reloaded on a page
    # built from the API (GET /me)
    page.get_by_role("link", name=re.compile("Your account")).click()
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    tamper(page, "s.expiresAt = Date.now() - 60000")
    unauthorized_before = len(traffic.unauthorized)
    page.reload()

    # Then it is renewed before any request is sent with it (no 401 at all), and the page renders
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    assert traffic.refreshes == [200, 200], traffic.refreshes
    assert traffic.unauthorized[unauthorized_before:] == []
    assert stored_session(page)["expiresAt"] > page.evaluate("Date.now()") + 60_000
    shot(page, "renewed-before-sending")


def test_sign_out_everywhere_ends_the_session_in_another_browser(
        page: Any, second_page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("everywhere")
    web_stack.register(email, name="Eva Everywhere")
    # Given the same learner signed in on two browsers
    sign_in(page, email)
    sign_in(second_page, email)
    traffic = Traffic(second_page, web_stack.api_url)

    # When they choose "Sign out everywhere" on the account page of the first
    page.get_by_role("link", name=re.compile("Your account")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    page.get_by_role("button", name="Sign out everywhere").click()

    # Then the first is on the sign-in page and its cookie is gone
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("#status")).to_contain_text("You are signed out everywhere")
    assert refresh_cookie(page) is None
    shot(page, "signed-out-everywhere")

    # And the second's next page that calls the API ends on sign-in: its token and its refresh are refused
    second_page.get_by_role("link", name="My certificates").click()
    expect(second_page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(second_page.locator("#status")).to_have_text("Your session has ended. Please sign in again.")
    assert traffic.refreshes == [401], traffic.refreshes
    assert second_page.evaluate(f"sessionStorage.getItem('{SESSION_KEY}')") is None
    shot(second_page, "other-browser-signed-out")

    # And signing in again there works, back to the page they were going to
    second_page.get_by_label("Email").fill(email)
    second_page.get_by_label("Password").fill(PASSWORD)
    second_page.get_by_role("button", name="Sign in").click()
    expect(second_page.get_by_role("heading", level=1)).to_have_text("My certificates")


def test_change_password_from_the_account_page(page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("rekey")
    web_stack.register(email, name="Pat Password")
    sign_in(page, email)
    page.get_by_role("link", name=re.compile("Your account")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    current = page.get_by_label("Current password")
    new = page.get_by_label("New password")

    # A wrong current password: the API's problem beside the field, which gets the focus
    current.fill("not-my-password")
    new.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_have_accessible_description("does not match")
    expect(current).to_be_focused()
    expect(page.locator(".password-form [role=alert]")).to_contain_text("the current password is not right")
    shot(page, "wrong-current-password")

    # The right one: a success message, and this browser stays signed in (a new session)
    current.fill(PASSWORD)
    new.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#status")).to_contain_text("Your password is changed")
    expect(page.locator("#status")).to_contain_text("signed out")
    expect(current).to_have_value("")
    expect(current).not_to_have_attribute("aria-invalid", "true")
    shot(page, "password-changed")

    # The old password no longer signs in; the new one does
    old = web_stack.api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401, old.text
    assert web_stack.api.post("/auth/login", json={"email": email, "password": NEW_PASSWORD}).status_code == 200

    # And the new session's cookie renews this tab's token later on
    tamper(page, "s.expiresAt = Date.now() - 1000")
    page.get_by_role("link", name="My certificates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My certificates")
