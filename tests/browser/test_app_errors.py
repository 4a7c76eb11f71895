"""Error display in the browser: the API's own messages (wrong password, field problems next to
their fields), an unreachable API, an expired session (401 -> sign-in, then back where the user
was), and API text shown as text (never markup)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
expect.set_options(timeout=30_000)  # cold starts and Argon2id: a wait limit, not a timing assertion


def test_wrong_password_shows_the_apis_message(page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("forgetful")
    web_stack.register(email)
    api_says = web_stack.api.post("/auth/login", json={"email": email, "password": "not-the-password"}).json()

    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.locator("form [role=alert]")
    expect(alert).to_have_text(api_says["error"]["message"])
    expect(alert).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    shot(page, "wrong-password")


def test_field_problems_are_shown_next_to_their_fields(page: Any, web_stack: WebStack, shot: Any) -> None:
    page.goto("/#/register")
    page.get_by_label("Your name").fill("Shorty")
    page.get_by_label("Email").fill(web_stack.unique_email("shorty"))
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()

    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    # The problem is the field's description (aria-describedby), so screen readers read it with the field
    problem = page.locator(f"#{password.get_attribute('id')}-error")
    expect(problem).to_have_text("String should have at least 10 characters")
    expect(password).to_have_accessible_description("At least 10 characters. String should have at least 10 characters")
    expect(password).to_be_focused()
    expect(page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("form [role=alert]")).to_contain_text("the request is not valid")
    shot(page, "field-problems")


def test_an_unreachable_api_says_so(page: Any, web_stack: WebStack, shot: Any) -> None:
    page.route(f"{web_stack.api_url}/**", lambda route: route.abort("connectionrefused"))
    page.goto("/#/signin")
    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("form [role=alert]")).to_have_text("Cannot reach the API. Check your connection and try again.")
    shot(page, "api-unreachable")


def test_an_expired_session_goes_back_to_sign_in_and_then_where_the_user_was(
        page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("expired")
    web_stack.register(email, name="Eve Expired")
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")

    # When the token stops being accepted (here: replaced by a forged one), nothing can renew it (the
    # refresh cookie is gone: tests/browser/test_sessions.py covers the silent renewal) and the user moves on
    page.evaluate("""() => { const s = JSON.parse(sessionStorage.getItem('smartcourse.session'));
        s.token = 'forged.token.value'; sessionStorage.setItem('smartcourse.session', JSON.stringify(s)); }""")
    page.context.clear_cookies()
    page.get_by_role("link", name="My certificates").click()

    # Then the API's 401 sends them to sign-in with a message, and signing in returns them there
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("#status")).to_have_text("Your session has ended. Please sign in again.")
    shot(page, "session-ended")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My certificates")


def test_api_text_is_shown_as_text_never_as_markup(page: Any, web_stack: WebStack, browser_log: Any,
                                                   shot: Any) -> None:
    title = f"<img src=x onerror=\"window.__pwned=1\"> Tricky {web_stack.stage}"
    teacher_email = web_stack.unique_email("tricky")
    teacher = web_stack.auth(web_stack.register(teacher_email, "instructor", "<b>Bold</b> Teacher"))
    resp = web_stack.api.post("/courses", json={"title": title, "description": "<script>window.__pwned=2</script>"},
                              headers=teacher)
    assert resp.status_code == 201, resp.text
    cid = resp.json()["id"]
    email = web_stack.unique_email("reader")
    web_stack.register(email)
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")

    # A draft of another instructor is 404 for a student: the API's message is shown
    page.goto(f"/#/courses/{cid}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator(".error-panel")).to_contain_text("course not found")

    # The instructor's own view shows the title literally, with no element created from it
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(teacher_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav")).to_contain_text("<b>Bold</b> Teacher")
    page.goto(f"/#/courses/{cid}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".lead")).to_have_text("<script>window.__pwned=2</script>")
    assert page.locator("main img, main script, main b").count() == 0
    assert page.evaluate("window.__pwned") is None
    shot(page, "escaped-text")
