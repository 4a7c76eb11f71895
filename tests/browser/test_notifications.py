"""Notifications in a real browser: a learner enrols in a course an instructor published through the
API; the bell in the navigation counts the unread notification once it has travelled API -> outbox
-> relay -> Kafka -> NotificationsFunction; the inbox shows it, naming the course; activating it
marks it read and the count goes down; in the preferences, email set to "off" for enrollment
confirmations survives a reload and is what the API returns. Also: the bell with the keyboard only,
the inbox and the preferences on a 375 px wide screen, and a phone number verified on the account
page (the code texted through the whole stack) before SMS can be turned on."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from testkit.moto import texts_to
from tests.browser.conftest import PASSWORD, WebStack, assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# The API's first requests start functions (cold starts) and hash passwords (Argon2id): give
# web-first assertions the patience of actions. A wait limit, not a timing assertion.
expect.set_options(timeout=30_000)
# Created asynchronously (outbox -> relay -> Kafka -> NotificationsFunction), then picked up by the
# bell, which asks on every navigation and every 30 s.
NOTIFICATION_TIMEOUT_MS = 120_000
SOME_UNREAD = re.compile(r"^[1-9][0-9]*$")


@dataclass
class PublishedCourse:
    id: str
    title: str


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def course(web_stack: WebStack) -> PublishedCourse:
    """A published course with one text lesson."""
    api = web_stack.api
    teacher = web_stack.auth(web_stack.register(web_stack.unique_email("bell-teacher"), "instructor", "Bea Bellringer"))
    title = f"Bell ringing basics {web_stack.stage}"
    cid = _ok(api.post("/courses", json={"title": title, "description": "Rounds, call changes and methods."},
                       headers=teacher), 201)["id"]
    week1 = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)["id"]
    _ok(api.post(f"/courses/{cid}/modules/{week1}/lessons", headers=teacher, json={
        "title": "Welcome", "kind": "text", "body": "Welcome to the tower.\n\nToday we ring rounds."}), 201)
    _ok(api.post(f"/courses/{cid}/publish", headers=teacher), 201)
    return PublishedCourse(id=cid, title=title)


def sign_in(page: Any, email: str) -> None:
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")


def bell_name(unread: int) -> str:
    return f"Notifications, {unread} unread" if unread else "Notifications"


def test_learner_sees_the_enrollment_notification_reads_it_and_turns_its_email_off(
        page: Any, web_stack: WebStack, course: PublishedCourse, shot: Any) -> None:
    # Given a learner who enrols in a published course
    email = web_stack.unique_email("notified")
    token = web_stack.register(email, "student", "Nina Notified")
    sign_in(page, email)
    bell = page.locator("#nav-bell")
    badge = page.get_by_test_id("unread-count")
    expect(bell).to_be_visible()
    page.goto(f"/#/courses/{course.id}")
    page.get_by_role("button", name="Enrol in this course").click()
    expect(page.locator("#status")).to_contain_text(f"You are enrolled in {course.title}")

    # Then the bell shows an unread count, in its badge and in its accessible name
    expect(badge).to_have_text(SOME_UNREAD, timeout=NOTIFICATION_TIMEOUT_MS)
    unread = int(badge.inner_text())
    expect(bell).to_have_accessible_name(bell_name(unread))
    shot(page, "bell-with-unread-count")

    # When they open the inbox from the bell
    bell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(bell).to_have_attribute("aria-current", "page")
    # Then the enrollment notification names the course, marked unread (visibly and in its heading)
    item = page.locator('li.notification[data-type="enrollment_confirmed"]').filter(has_text=course.title)
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-state", "unread")
    expect(item.get_by_role("heading", level=2)).to_contain_text("Unread")
    expect(page.get_by_test_id("unread-summary")).to_contain_text(f"{unread} unread")
    shot(page, "inbox-unread")

    # When they activate it: its link (if it has one) leads in the app, e.g. to the course
    title_link = item.locator("a.notification-title")
    if title_link.count():
        expect(title_link).to_have_attribute("href", re.compile(r"^#/"))
        title_link.click()
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Notifications")
        shot(page, "followed-the-notification")
        expect(bell).to_have_accessible_name(bell_name(unread - 1))
        bell.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    else:
        item.get_by_role("button", name=re.compile(r"^Mark as read")).click()
    # Then it is read and the count went down
    expect(item).to_have_attribute("data-state", "read")
    expect(item.get_by_role("heading", level=2)).not_to_contain_text("Unread")
    expect(bell).to_have_accessible_name(bell_name(unread - 1))
    if unread - 1:
        expect(badge).to_have_text(str(unread - 1))
    else:
        expect(badge).to_be_hidden()
    shot(page, "inbox-read")

    # When they turn email off for enrollment confirmations in the preferences, and save
    page.get_by_role("link", name="Notification preferences").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification preferences")
    email_pref = page.locator('select[data-type="enrollment_confirmed"][data-channel="email"]')
    expect(email_pref).to_have_accessible_name(re.compile(r"^Email for "))
    expect(email_pref).to_be_enabled()
    expect(email_pref, "email starts on for enrollment confirmations").not_to_have_value("off")
    email_pref.select_option("off")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("#status")).to_contain_text("Your notification preferences are saved.")
    shot(page, "preferences-saved")

    # Then a reload shows "off", and the API says so too
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification preferences")
    expect(email_pref).to_have_value("off")
    prefs = _ok(web_stack.api.get("/me/notification-preferences", headers=web_stack.auth(token)))
    confirmed = next(t for t in prefs["types"] if t["type"] == "enrollment_confirmed")
    assert confirmed["channels"]["email"]["cadence"] == "off", confirmed
    shot(page, "preferences-after-reload")


def test_keyboard_only_the_bell_opens_the_inbox(page: Any, web_stack: WebStack, shot: Any) -> None:
    email = web_stack.unique_email("bell-keys")
    web_stack.register(email, "student", "Kai Keys")
    sign_in(page, email)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_focused()

    # From the view's heading, Shift+Tab goes back up into the navigation: Sign out, then the bell
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "nav-bell":
            break
    else:
        raise AssertionError("the notification bell cannot be reached with the keyboard")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", \
        "the focused bell shows no focus outline"
    shot(page, "focus-on-bell")

    # Enter opens the inbox, whose heading gets the focus
    page.keyboard.press("Enter")
    expect(heading).to_have_text("Notifications")
    expect(heading).to_be_focused()
    # And the "Show only unread" filter is a Tab or two away and works with Space, keeping the focus
    only_unread = page.get_by_label("Show only unread")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.name") == "unread-only":
            break
    else:
        raise AssertionError("'Show only unread' cannot be reached with Tab")
    page.keyboard.press("Space")
    expect(only_unread).to_be_checked()
    expect(only_unread).to_be_focused()
    expect(page.get_by_text("No unread notifications.", exact=True)).to_be_visible()
    assert page.url.endswith("#/notifications?unread=1"), page.url
    shot(page, "keyboard-only-unread")


def test_inbox_and_preferences_fit_a_375px_screen(phone: Any, web_stack: WebStack, course: PublishedCourse,
                                                  shot: Any, browser_log: Any) -> None:
    email = web_stack.unique_email("bell-phone")
    token = web_stack.register(email, "student", "Pat Phone")
    _ok(web_stack.api.post(f"/courses/{course.id}/enrollments", headers=web_stack.auth(token), json={}), 201)
    page = phone
    sign_in(page, email)
    expect(page.get_by_test_id("unread-count")).to_have_text(SOME_UNREAD, timeout=NOTIFICATION_TIMEOUT_MS)
    page.locator("#nav-bell").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.locator("li.notification").first).to_be_visible()
    assert_fits(page)
    shot(page, "375-inbox")
    page.get_by_role("link", name="Notification preferences").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification preferences")
    expect(page.locator('select[data-type="enrollment_confirmed"][data-channel="email"]')).to_be_visible()
    assert_fits(page)
    shot(page, "375-preferences")
    assert browser_log.page_errors == [], browser_log.summary()


def test_a_phone_number_verified_on_the_account_page_turns_the_sms_column_on(
        phone: Any, web_stack: WebStack, function_env: dict[str, str], shot: Any, browser_log: Any) -> None:
    """On a 375 px touch screen, with the keyboard: no verified number, so the SMS column is off
    limits; on the account page the number is entered (spaces allowed), the code texted through
    API -> outbox -> relay -> Kafka -> NotificationsFunction -> SNS (moto) is typed, a wrong one
    first; then SMS can be turned on, immediately or off only."""
    email = web_stack.unique_email("texted")
    web_stack.register(email, "student", "Tex Ted")
    page = phone
    sign_in(page, email)
    page.goto("/#/settings/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification preferences")
    sms = page.locator('select[data-type="enrollment_confirmed"][data-channel="sms"]')
    expect(sms).to_be_disabled()
    expect(sms).to_have_accessible_description(re.compile("Needs a verified phone number"))
    expect(page.get_by_test_id("sms-hint")).to_contain_text("need a verified phone number")
    assert_fits(page)
    shot(page, "375-sms-needs-a-phone")

    page.get_by_test_id("sms-hint").get_by_role("link", name="your account page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    status = page.get_by_test_id("account-phone-status")
    expect(status).to_have_text("No phone number.")
    number = f"+1555{secrets.randbelow(10**7):07d}"
    typed = f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"  # as people write it
    page.get_by_role("textbox", name="Phone number").fill(typed)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text(f"A code is on its way to {number}. It works for 10 minutes.")
    code_field = page.get_by_label("Code from the text message")
    expect(code_field).to_be_focused()
    expect(status).to_have_text(f"{number}: not verified yet.")

    texts = web_stack.eventually("the code's text message", lambda: texts_to(
        function_env["AWS_ENDPOINT_URL"], number), timeout=120)
    code = re.match(r"^([0-9]{6}) ", texts[0]).group(1)  # type: ignore[union-attr]
    code_field.fill(str((int(code) + 1) % 10**6).zfill(6))
    page.keyboard.press("Enter")
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(code_field).to_be_focused()
    expect(page.locator(".phone-code-form .field-error")).to_have_text("does not match (4 tries left)")
    shot(page, "375-wrong-code")
    code_field.fill(code)
    page.keyboard.press("Enter")
    expect(status).to_contain_text(f"{number}: verified on ")
    expect(status).to_be_focused()
    expect(page.get_by_role("button", name="Remove the number")).to_be_visible()
    assert_fits(page)
    shot(page, "375-phone-verified")

    page.goto("/#/settings/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification preferences")
    expect(sms).to_be_enabled()
    assert sms.locator("option").evaluate_all("os => os.map((o) => o.value)") == ["immediately", "off"]
    sms.select_option("immediately")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("#status")).to_contain_text("Your notification preferences are saved.")
    assert_fits(page)
    shot(page, "375-sms-on")
    assert browser_log.page_errors == [], browser_log.summary()
