"""The web app's side of the emailed account links: "Forgot your password?" on the sign-in page asks
for a reset link and says the same for an address with an account and one without; the account page
says whether the address is confirmed, sends the confirmation link again, and shows the address
confirmed once the user has opened the emailed link (the API's own page) and pressed its button."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# Cold starts and Argon2id: a wait limit, not a timing assertion.
expect.set_options(timeout=30_000)

RESET_MESSAGE = "If an account has this address, a link to reset its password is on its way."
RESEND_MESSAGE = "A link to confirm your email address is on its way."


def sign_in(page: Any, email: str) -> None:
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")


def watch_button(page: Any, name: str) -> None:
    """Records every state the button goes through ([disabled, label]) in window.__states."""
    page.get_by_role("button", name=name).evaluate("""(b) => {
        window.__states = [];
        new MutationObserver(() => window.__states.push([b.disabled, b.textContent]))
            .observe(b, { attributes: true, childList: true, characterData: true, subtree: true });
    }""")


def ask_for_reset(page: Any, api_url: str, email: str) -> dict[str, Any]:
    """Submits the reset form for `email`; returns the API's answer once the page has shown it."""
    field = page.get_by_label("Email")
    field.fill(email)
    button = page.get_by_role("button", name="Send the reset link")
    watch_button(page, "Send the reset link")
    with page.expect_response(lambda r: r.url == f"{api_url}/auth/password-reset"
                              and r.request.method == "POST") as answer:
        button.click()
    # The button is enabled again only after the page has handled the answer (the status region
    # was cleared then), so the message below is this answer's, not the previous one's.
    expect(button).to_be_enabled()
    assert [True, "Sending…"] in page.evaluate("window.__states"), "the button was not disabled while sending"
    expect(page.locator("#status")).to_have_text(RESET_MESSAGE)
    assert answer.value.status == 202, answer.value.text()
    return dict(answer.value.json())


def test_forgot_password_says_the_same_for_every_address(page: Any, web_stack: WebStack, shot: Any) -> None:
    known = web_stack.unique_email("forgetful")
    web_stack.register(known, name="Fay Forgetful")
    unknown = web_stack.unique_email("nobody")

    # From the sign-in page, with the address already typed there
    page.goto("/#/signin")
    page.get_by_label("Email").fill(known)
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    expect(page.get_by_label("Email")).to_have_value(known)

    # A malformed address: the API's problem beside the field, which gets the focus
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_role("button", name="Send the reset link").click()
    field = page.get_by_label("Email")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.locator(".reset-form .field-error")).to_be_visible()
    expect(page.locator("#status")).to_be_hidden()
    shot(page, "malformed-address")

    # An address with an account and one without: the same answer, the same page
    for_known = ask_for_reset(page, web_stack.api_url, known)
    expect(field).not_to_have_attribute("aria-invalid", "true")
    shot(page, "known-address")
    main_known = page.locator("main").inner_text()
    for_unknown = ask_for_reset(page, web_stack.api_url, unknown)
    shot(page, "unknown-address")
    assert for_known == for_unknown == {"status": "accepted", "message": RESET_MESSAGE}
    assert page.locator("main").inner_text() == main_known
    expect(page.locator("#status")).to_have_attribute("role", "status")

    # Back to sign in from there
    page.get_by_role("link", name="Back to sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_confirming_the_email_address(page: Any, web_stack: WebStack, function_env: dict[str, str],
                                      shot: Any) -> None:
    from smartcourse.accounts import domain as accounts
    from smartcourse.accounts import repository as accounts_repo

    email = web_stack.unique_email("confirmer")
    token = web_stack.register(email, name="Cora Confirmer")
    user_id = uuid.UUID(web_stack.api.get("/me", headers=web_stack.auth(token)).json()["user"]["id"])

    # A new account: the address is not confirmed yet, and the link can be sent again
    sign_in(page, email)
    page.get_by_role("link", name=re.compile("Your account")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    status = page.get_by_test_id("account-email-status")
    expect(status).to_have_text("Not confirmed yet.")
    resend = page.get_by_role("button", name="Send the confirmation link again")
    expect(resend).to_have_accessible_description(re.compile(re.escape(email)))
    with page.expect_response(lambda r: r.url == f"{web_stack.api_url}/me/email-verification"
                              and r.request.method == "POST") as answer:
        resend.click()
    assert answer.value.status == 202, answer.value.text()
    expect(page.locator("#status")).to_have_text(RESEND_MESSAGE)
    shot(page, "not-confirmed-link-sent")

    # The emailed link, as NotificationsFunction makes it (a row of lms.account_tokens, signed with
    # the functions' JWT_SECRET): the user opens it and presses the page's button
    with psycopg.connect(web_stack.database_url) as conn:
        link_id = accounts_repo.insert_link(conn, "email_verification", email, user_id,
                                            datetime.now(UTC) + timedelta(days=7))
    link = accounts.sign_link(function_env["JWT_SECRET"].encode(), "email_verification", link_id)
    page.goto(f"{web_stack.api_url}/auth/verify-email/{link}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is confirmed")

    # Back in the app (the same tab: still signed in), the account page shows it confirmed
    page.goto("/#/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(status).to_have_text(re.compile(r"^Confirmed on .*\d{4}\.$"))
    expect(page.get_by_role("button", name="Send the confirmation link again")).to_have_count(0)
    shot(page, "confirmed")

    # "Download my data": the export as a file, the account's own data in it
    download_button = page.get_by_role("button", name="Download my data")
    with page.expect_download() as got:
        download_button.click()
    assert got.value.suggested_filename == "smartcourse-export.json"
    exported = json.loads(Path(got.value.path()).read_text())
    assert exported["format"] == "smartcourse.export.v1" and exported["account"]["email"] == email
    assert exported["account"]["email_verified_at"]
    expect(page.locator("#status")).to_have_text("Your data is downloaded as smartcourse-export.json.")


def test_deleting_the_account_from_the_account_page(page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("leaver")
    web_stack.register(email, name="Lee Leaver")
    sign_in(page, email)
    page.get_by_role("link", name=re.compile("Your account")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    form = page.locator(".delete-account-form")
    form.get_by_label("Your certificates").select_option("withdraw")
    # Not confirmed: nothing is sent, the box says why
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_label("I understand that this cannot be undone")).to_have_attribute("aria-invalid", "true")
    # A wrong password: the API's problem beside the field
    form.get_by_label("I understand that this cannot be undone").check()
    form.get_by_label("Password").fill("not-the-password")
    form.get_by_role("button", name="Delete my account").click()
    expect(form.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    shot(page, "delete-wrong-password")
    # The right one: signed out, told, and the account is gone
    form.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(lambda r: r.url == f"{web_stack.api_url}/me" and r.request.method == "DELETE") as r:
        form.get_by_role("button", name="Delete my account").click()
    assert r.value.status == 204, r.value.text()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_text("Your account is deleted.")).to_be_visible()
    assert web_stack.api.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
