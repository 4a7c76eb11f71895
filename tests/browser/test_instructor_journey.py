"""The instructor journey in a real browser: sign up as an instructor, create a course, try to
publish it too early (the API's problems are shown), upload a Markdown file through the file input
(the upload progress bar reaches 100 %, the asset goes through processing to ready), upload a broken
PDF (it ends "failed: <reason>"), add modules and lessons (one presenting the uploaded file), publish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# The API's first requests start its function (cold start) and hash passwords (Argon2id): give
# web-first assertions the same patience as actions. A wait limit, not a timing assertion.
expect.set_options(timeout=30_000)
INGEST_TIMEOUT_MS = 180_000  # ingestion is asynchronous (S3 -> IngestFunction); the page polls

PROCESSING = {"uploaded, waiting for processing", "uploaded, queued for processing", "processing"}
NOTES = """# Tides and the Moon

## Why tides happen

The Moon's gravity pulls the oceans into two bulges, one facing the Moon and one opposite it.
The Earth turns under both bulges, so most coasts see two high tides every lunar day of 24 hours and 50 minutes.

## Spring and neap tides

When the Sun and the Moon line up, at new and full moon, their pulls add up and the tides are largest:
these are spring tides. At the quarter moons the pulls partly cancel and the tides are smallest: neap tides.
"""

# Records every text the asset status pills show, so the test can see the sequence of states
# the page went through (processing -> ready), not just the last one.
WATCH_STATUSES = """
() => {
  window.__assetStatuses = {};
  const record = () => {
    for (const li of document.querySelectorAll('li.asset')) {
      const name = li.querySelector('.asset-name').textContent;
      const status = li.querySelector('[data-testid=asset-status]').textContent;
      const seen = (window.__assetStatuses[name] = window.__assetStatuses[name] || []);
      if (seen[seen.length - 1] !== status) seen.push(status);
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
  record();
}
"""


def upload(page: Any, path: Path) -> None:
    page.get_by_label("File to upload").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()


def test_instructor_builds_uploads_and_publishes_a_course(page: Any, web_stack: WebStack, shot: Any,
                                                          tmp_path: Path) -> None:
    notes = tmp_path / "tides-notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    broken = tmp_path / "broken-scan.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a PDF, just bytes that claim to be one\n" * 20)
    email = web_stack.unique_email("teacher")

    # Given a new visitor who signs up as an instructor
    page.goto("/#/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    page.get_by_label("Your name").fill("Tess Teacher")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I want to").select_option("instructor")
    shot(page, "register-as-instructor")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Teach")
    expect(page.locator("#status")).to_contain_text("Signed in as Tess Teacher")

    # When they create a course
    page.get_by_label("Course title").fill("Tides for beginners")
    page.get_by_label("Description").fill("How the Moon and the Sun move the oceans.")
    page.get_by_role("button", name="Create course").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Tides for beginners")
    expect(heading).to_be_focused()
    expect(page.get_by_test_id("course-status")).to_contain_text("Draft")

    # And add a module, then try to publish it empty: the API's problem is shown, naming the module
    page.get_by_label("Module title").fill("Week 1: the basics")
    page.get_by_role("button", name="Add module").click()
    expect(page.locator("[data-module-id] h3")).to_have_text(["Week 1: the basics"])
    page.get_by_role("button", name="Publish", exact=True).click()
    problems = page.locator(".error-panel")
    expect(problems).to_contain_text("cannot be published")
    expect(problems).to_contain_text('Module "Week 1: the basics": a module needs at least one lesson')
    expect(problems).to_be_focused()
    shot(page, "publish-refused")

    # And upload notes through the file input: the progress bar reaches 100 % and the asset is processed
    page.evaluate(WATCH_STATUSES)
    upload(page, notes)
    bar = page.get_by_role("progressbar", name="Upload of tides-notes.md")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("upload-text").first).to_have_text("tides-notes.md: uploaded (100%)")
    shot(page, "notes-uploaded")
    notes_status = page.locator("li.asset", has_text="tides-notes.md").get_by_test_id("asset-status")
    expect(notes_status).to_have_text("ready", timeout=INGEST_TIMEOUT_MS)
    # The page showed the upload being processed before it showed it ready (every state it showed
    # is recorded; "processing" itself appears when a poll lands while the ingestion runs)
    seen = page.evaluate("window.__assetStatuses['tides-notes.md']")
    print("tides-notes.md statuses shown:", seen)
    assert seen[-1] == "ready", seen
    assert set(seen[:-1]) <= {"waiting for the file", *PROCESSING}, seen
    assert PROCESSING & set(seen), seen
    expect(page.locator("#status")).to_contain_text("tides-notes.md: ready")
    shot(page, "notes-ready")

    # And a broken PDF ends failed, with the reason the ingestion gave
    upload(page, broken)
    expect(page.get_by_role("progressbar", name="Upload of broken-scan.pdf")).to_have_attribute("aria-valuenow", "100")
    broken_status = page.locator("li.asset", has_text="broken-scan.pdf").get_by_test_id("asset-status")
    expect(broken_status).to_have_text(_failed_with_reason(), timeout=INGEST_TIMEOUT_MS)
    shot(page, "broken-failed")

    # And add a text lesson and a document lesson presenting the notes
    module = page.locator("[data-module-id]", has_text="Week 1: the basics")
    form = module.locator("form.lesson-form")
    form.get_by_label("Lesson title").fill("Welcome")
    form.get_by_label("Lesson text").fill("Welcome to the course.\n\nWe start with why tides happen.")
    form.get_by_role("button", name="Add lesson").click()
    expect(page.locator("#status")).to_contain_text('Lesson "Welcome" added')
    expect(module.locator(".lesson-item")).to_have_count(1)
    form = module.locator("form.lesson-form")
    form.get_by_label("Lesson title").fill("Tide notes")
    form.get_by_label("Kind").select_option("document")
    expect(form.get_by_label("Lesson text")).to_be_hidden()
    form.get_by_label("Material").select_option(label="tides-notes.md (ready)")
    form.get_by_role("button", name="Add lesson").click()
    expect(module.locator(".lesson-item")).to_have_count(2)
    expect(module.locator(".lesson-item").nth(1)).to_contain_text("Tide notes")
    expect(module.locator(".lesson-item").nth(1)).to_contain_text("tides-notes.md")
    shot(page, "lessons-added")

    # Then publishing succeeds and the course is version 1
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Published version 1")
    expect(page.get_by_test_id("course-status")).to_contain_text("Published (version 1)")
    expect(page.locator(".error-panel")).to_have_count(0)
    shot(page, "published")

    # And the API agrees: a learner would see both lessons in version 1
    token = web_stack.login(email)
    courses = web_stack.api.get("/courses", params={"status": "published", "q": "Tides for beginners"},
                                headers=web_stack.auth(token)).json()["items"]
    assert [c["published_version"] for c in courses] == [1]
    detail = web_stack.api.get(f"/courses/{courses[0]['id']}?version=1", headers=web_stack.auth(token)).json()
    assert [[ls["title"] for ls in m["lessons"]] for m in detail["modules"]] == [["Welcome", "Tide notes"]]

    # And "View as a learner" opens the course page
    page.get_by_role("link", name="View as a learner").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tides for beginners")
    expect(page.get_by_role("link", name="Tide notes")).to_be_visible()
    shot(page, "learner-view")


def _failed_with_reason() -> Any:
    import re

    return re.compile(r"^failed: \S.+")
