"""The learner journey in a real browser, against a course an instructor set up through the API
(the UI for that is the instructor journey's subject): register, catalogue, enrol, open lessons and
mark them done (the progress bar and "what is left" follow), ask the assistant a question answered
by the uploaded PDF and follow the citation to the right lesson and page, complete the course, see
the certificate arrive, open its public verification page. Also: keyboard-only use and a 375 px
wide screen."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fpdf import FPDF
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack, assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# The API's first requests start functions (cold starts) and hash passwords (Argon2id): give
# web-first assertions the patience of actions. A wait limit, not a timing assertion.
expect.set_options(timeout=30_000)
CERTIFICATE_TIMEOUT_MS = 180_000  # issued asynchronously: outbox -> Kafka -> CertificatesFunction
QUESTION = "How long does the Moon take to orbit the Earth?"


@dataclass
class PublishedCourse:
    id: str
    title: str
    welcome_id: str
    notes_id: str


def _pdf(pages: list[str]) -> bytes:
    doc = FPDF()
    for text in pages:
        doc.add_page()
        doc.set_font("Helvetica", size=12)
        doc.multi_cell(0, 8, text)
    return bytes(doc.output())


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def course(web_stack: WebStack) -> PublishedCourse:
    """A published course: a text lesson, then a document lesson presenting a two-page PDF whose
    second page answers QUESTION; returned once the PDF is searchable (the version is live)."""
    api = web_stack.api
    teacher = web_stack.auth(web_stack.register(web_stack.unique_email("teacher"), "instructor", "Ada Instructor"))
    title = f"Lunar science {web_stack.stage}"
    cid = _ok(api.post("/courses", json={"title": title, "description": "The Moon, its orbit and its phases."},
                       headers=teacher), 201)["id"]
    week1 = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)["id"]
    week2 = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 2"}, headers=teacher), 201)["id"]
    welcome = _ok(api.post(f"/courses/{cid}/modules/{week1}/lessons", headers=teacher, json={
        "title": "Welcome", "kind": "text",
        "body": "Welcome to Lunar science.\n\nIn this course we observe the Moon and learn how it moves."}), 201)
    content = _pdf([
        "Introduction. This course studies the Earth's natural satellite and how we observe it.",
        "Orbit. The Moon orbits the Earth once every 27.3 days, a period called the sidereal month. "
        "The cycle of lunar phases takes 29.5 days, the synodic month.",
    ])
    created = _ok(api.post(f"/courses/{cid}/assets", headers=teacher, json={
        "filename": "lunar-notes.pdf", "content_type": "application/pdf", "size": len(content)}), 201)
    upload = created["upload"]
    stored = httpx.post(upload["url"], data=upload["fields"],
                        files={"file": ("lunar-notes.pdf", content, "application/pdf")}, timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    notes = _ok(api.post(f"/courses/{cid}/modules/{week2}/lessons", headers=teacher, json={
        "title": "Lunar notes (PDF)", "kind": "document", "asset_id": created["asset"]["id"]}), 201)
    _ok(api.post(f"/courses/{cid}/publish", headers=teacher), 201)

    def searchable() -> bool:
        resp = api.get(f"/courses/{cid}/search", params={"q": "sidereal month"}, headers=teacher)
        return resp.status_code == 200 and any(i["lesson_id"] == notes["id"] for i in resp.json()["items"])

    web_stack.eventually("the published PDF to be searchable", searchable)
    return PublishedCourse(id=cid, title=title, welcome_id=welcome["id"], notes_id=notes["id"])


def register_in_browser(page: Any, web_stack: WebStack, name: str) -> str:
    email = web_stack.unique_email("learner")
    page.goto("/#/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")
    return email


def test_learner_enrols_learns_asks_completes_and_verifies_the_certificate(
        page: Any, web_stack: WebStack, course: PublishedCourse, shot: Any) -> None:
    # Given a new learner who registers in the browser
    register_in_browser(page, web_stack, "Lena Learner")
    expect(page.locator("#status")).to_contain_text("Signed in as Lena Learner")
    expect(page.get_by_role("link", name="My certificates")).to_be_visible()
    expect(page.get_by_role("link", name="Teach")).to_have_count(0)

    # When they find the course in the catalogue and open it
    page.get_by_label("Search courses by title").fill(course.title)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".course-card")).to_have_count(1)
    shot(page, "catalogue")
    page.get_by_role("link", name=course.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(course.title)
    expect(page.locator(".module h3")).to_have_text(["Week 1", "Week 2"])
    shot(page, "course-before-enrolling")

    # And enrol: the progress bar starts at 0 and says what is left
    page.get_by_role("button", name="Enrol in this course").click()
    expect(page.locator("#status")).to_contain_text(f"You are enrolled in {course.title}")
    bar = page.get_by_role("progressbar", name="Course progress")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(page.get_by_test_id("progress-text")).to_have_text("2 of 2 lessons left: Welcome, Lunar notes (PDF)")
    shot(page, "enrolled")

    # And open the first lesson and mark it done
    page.get_by_role("link", name="Continue: Welcome").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome")
    expect(page.locator(".lesson-body")).to_contain_text("we observe the Moon")
    page.get_by_role("button", name="Mark as done").click()
    expect(page.get_by_test_id("progress-text")).to_have_text("1 of 2 lessons left: Lunar notes (PDF)")
    expect(page.get_by_role("progressbar", name="Course progress")).to_have_attribute("aria-valuenow", "50")
    expect(page.get_by_test_id("lesson-state")).to_have_text("This lesson: Done")
    expect(page.get_by_role("button", name="Mark as done")).to_have_count(0)
    expect(page.locator("#status")).to_contain_text("Lesson marked as done.")
    shot(page, "first-lesson-done")

    # Then the assistant answers from the PDF, citing its page, and the citation opens that lesson
    page.get_by_role("link", name=course.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(course.title)
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.get_by_test_id("answer").first
    expect(answer.locator(".answer-text")).to_contain_text("27.3 days")
    citation = answer.get_by_role("link", name=re.compile(r"^\[\d+\] Lunar notes \(PDF\) — page 2$"))
    expect(citation).to_have_count(1)
    shot(page, "assistant-answer")
    answer.get_by_role("button", name="Yes").click()
    expect(answer.locator(".feedback")).to_contain_text("Thanks for the feedback.")
    citation.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lunar notes (PDF)")
    assert f"/courses/{course.id}/lessons/{course.notes_id}" in page.url
    expect(page.get_by_test_id("cited-location")).to_have_text("The assistant's answer cites this lesson at page 2.")
    # (opening a lesson marks it started)
    expect(page.get_by_test_id("lesson-state")).to_have_text("This lesson: In progress")
    shot(page, "citation-lands-on-lesson")

    # And the document lesson offers its material, and marking it done completes the course
    page.get_by_role("button", name="Get the document").click()
    # (reached from the citation, it opens the PDF at the cited page)
    expect(page.get_by_role("link", name=re.compile("Open the material at page 2"))).to_have_attribute(
        "href", re.compile(r"lunar-notes\.pdf.*#page=2$"))
    page.get_by_role("button", name="Mark as done").click()
    expect(page.get_by_test_id("progress-text")).to_have_text("Course completed: all 2 lessons done.")
    expect(page.get_by_role("progressbar", name="Course progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#status")).to_contain_text("Course completed! Your certificate is being issued.")
    shot(page, "course-completed")

    # And the certificate arrives on "My certificates" by itself (the page polls while it is being issued)
    page.get_by_role("link", name="see my certificates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My certificates")
    cert = page.locator("li.certificate")
    expect(cert).to_have_count(1, timeout=CERTIFICATE_TIMEOUT_MS)
    expect(page.get_by_test_id("being-issued")).to_have_count(0)
    expect(cert.get_by_role("heading")).to_have_text(course.title)
    code = cert.get_attribute("data-code")
    assert code and re.fullmatch(r"[0-9A-Z]{5}(-[0-9A-Z]{5}){4}", code), code
    expect(cert).to_contain_text(f"#/verify/{code}")
    shot(page, "certificate")
    cert.get_by_role("button", name="Download PDF").click()
    expect(cert.get_by_role("link", name=re.compile("Open the PDF"))).to_have_attribute(
        "href", re.compile(re.escape(code)))

    # And its public verification page says it is valid, for this learner and course
    cert.get_by_role("link", name="Public verification page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Valid certificate")
    expect(page.get_by_test_id("learner")).to_have_text("Lena Learner")
    expect(page.get_by_test_id("verdict")).to_contain_text(course.title)
    expect(page.get_by_test_id("verdict")).to_contain_text("Ada Instructor")
    shot(page, "verification-page")

    # And anyone can open that page without signing in
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto(f"/#/verify/{code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Valid certificate")
    # And once an admin revokes it, the same page says so, with the reason
    admin = web_stack.auth(web_stack.make_admin(web_stack.unique_email("admin")))
    revoked = web_stack.api.post(f"/certificates/{code}/revoke", json={"reason": "issued by mistake in a test"},
                                 headers=admin)
    assert revoked.status_code == 200, revoked.text
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoked certificate")
    expect(page.get_by_test_id("verdict")).to_contain_text("Reason: issued by mistake in a test")
    shot(page, "verification-revoked")
    page.goto("/#/verify/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")
    expect(page.get_by_role("heading", level=1)).to_have_text("Certificate not found")
    shot(page, "verification-unknown-code")


def test_keyboard_only_sign_in_enrol_and_mark_a_lesson_done(
        page: Any, web_stack: WebStack, course: PublishedCourse, shot: Any) -> None:
    email = web_stack.unique_email("keyboard")
    web_stack.register(email, "student", "Kim Keys")

    def tab_to(name: str, limit: int = 60) -> None:
        """Presses Tab until the focused element's accessible text is `name` (as a keyboard user would)."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = page.evaluate("""() => { const el = document.activeElement;
                return (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent || '').trim(); }""")
            if focused == name:
                return
        raise AssertionError(f"{name!r} cannot be reached with Tab")

    # Given the sign-in page, used with the keyboard only
    page.goto("/#/signin")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    tab_to("Email")
    page.keyboard.type(email)
    tab_to("Password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    # Then the new view's heading gets the focus
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Course catalogue")
    expect(heading).to_be_focused()

    # When they search, reach the course link and enrol, all with Tab and Enter
    tab_to("Search courses by title")
    page.keyboard.type(course.title)
    page.keyboard.press("Enter")
    expect(page.locator(".course-card")).to_have_count(1)
    tab_to(course.title)
    page.keyboard.press("Enter")
    expect(heading).to_have_text(course.title)
    expect(heading).to_be_focused()
    tab_to("Enrol in this course")
    shot(page, "focus-visible-on-enrol")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus outline"
    page.keyboard.press("Enter")
    expect(page.get_by_role("progressbar", name="Course progress")).to_have_attribute("aria-valuenow", "0")
    tab_to("Continue: Welcome")
    page.keyboard.press("Enter")
    expect(heading).to_have_text("Welcome")
    tab_to("Mark as done")
    page.keyboard.press("Enter")
    # Then the lesson is done, the status is announced, and the focus moves on to the next lesson
    expect(page.get_by_test_id("progress-text")).to_have_text("1 of 2 lessons left: Lunar notes (PDF)")
    expect(page.get_by_role("status").first).to_contain_text("Lesson marked as done.")
    expect(page.get_by_role("link", name="Next: Lunar notes (PDF) →")).to_be_focused()
    shot(page, "keyboard-lesson-done")


def test_narrow_screen_375px(phone: Any, web_stack: WebStack, course: PublishedCourse, shot: Any,
                             browser_log: Any) -> None:
    email = web_stack.unique_email("phone")
    web_stack.register(email, "student", "Pat Phone")
    page = phone
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Course catalogue")
    assert_fits(page)
    shot(page, "375-catalogue")
    page.goto(f"/#/courses/{course.id}")
    page.get_by_role("button", name="Enrol in this course").click()
    expect(page.get_by_role("progressbar", name="Course progress")).to_be_visible()
    assert_fits(page)
    shot(page, "375-course")
    page.goto(f"/#/courses/{course.id}/lessons/{course.welcome_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome")
    assert_fits(page)
    shot(page, "375-lesson")
    assert browser_log.page_errors == [], browser_log.summary()
