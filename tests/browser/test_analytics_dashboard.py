"""The instructor dashboards in a real browser (issue 18): a small cohort enrols and progresses
through the real API (API -> outbox -> relay -> Kafka -> AnalyticsFunction, driven by the local
runtime), then the course's instructor opens the dashboard from the course editor: the overview
figures are the API's, formatted for the browser's locale; the funnel is an SVG with its text
alternative (title/desc and a table); the roster pages and sorts with the API's cursor and sort; the
at-risk list shows each learner's reasons; content gaps are shown, or "not available" while the
endpoint answers 404; keyboard navigation reaches every section; 375 px needs no sideways scrolling.
A course with no learners shows its empty states, a learner who opens the address gets "Not allowed",
and an admin reaches the platform overview from the Teach page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, WebStack, assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
expect.set_options(timeout=30_000)

SECTIONS = [("Overview", "analytics-overview"), ("Lesson funnel", "analytics-funnel"),
            ("Learners", "analytics-learners"), ("At risk", "analytics-at-risk"),
            ("Content gaps", "analytics-gaps")]


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def sign_in(page: Any, email: str, heading: str) -> None:
    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def publish(api: httpx.Client, teacher: dict[str, str], title: str, lessons: list[str]) -> tuple[str, list[str]]:
    cid = _ok(api.post("/courses", json={"title": title, "description": "d"}, headers=teacher), 201)["id"]
    module = _ok(api.post(f"/courses/{cid}/modules", json={"title": "Week 1"}, headers=teacher), 201)["id"]
    ids = [_ok(api.post(f"/courses/{cid}/modules/{module}/lessons", headers=teacher, json={
        "title": t, "kind": "text", "body": f"{t}: read this."}), 201)["id"] for t in lessons]
    _ok(api.post(f"/courses/{cid}/publish", headers=teacher), 201)
    return cid, ids


def expected_text(page: Any, key: str, value: Any) -> str:
    """The figure as the page should show it: the browser's own locale formatting of the API's value."""
    if value is None:
        return "—"
    if key == "completion_rate":
        return str(page.evaluate("v => new Intl.NumberFormat(undefined, {style: 'percent', "
                                 "maximumFractionDigits: 1}).format(v)", value))
    return str(page.evaluate("v => new Intl.NumberFormat(undefined, {maximumFractionDigits: 2}).format(v)", value))


def check_figures(page: Any, api_answer: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        figure = page.locator(f"[data-figure='{key}']")
        expect(figure).to_have_text(expected_text(page, key, api_answer[key]))
        value, raw = api_answer[key], figure.get_attribute("data-value")
        assert (raw == "" if value is None else float(raw or "nan") == value), f"{key}: {raw!r} != {value!r}"
    expect(page.locator("[data-testid=as-of] time")).to_have_attribute("datetime", api_answer["as_of"])


def open_view(page: Any, address: str) -> None:
    """Goes to a hash address and waits for the new view (not the one it replaces) to have its heading focused."""
    page.evaluate("document.querySelectorAll('#main h1').forEach((e) => { e.dataset.stale = '1'; })")
    page.goto(address)
    expect(page.locator("#main h1:not([data-stale])")).to_be_focused()


def test_an_instructor_reads_the_course_dashboard(page: Any, web_stack: WebStack, shot: Any) -> None:
    api = web_stack.api
    teacher_email = web_stack.unique_email("dash-teacher")
    teacher = web_stack.auth(web_stack.register(teacher_email, "instructor", "Ines Instructor"))
    title = f"Tides {web_stack.stage}"
    cid, lessons = publish(api, teacher, title, ["Alpha", "Beta", "Gamma"])
    empty_cid, _ = publish(api, teacher, f"Quiet {web_stack.stage}", ["Only lesson"])

    # The cohort, through the real API: Ada completes the course, Ben completes one lesson of three
    # (started, behind the course's median pace: at risk), Cy enrols and never starts.
    learners: dict[str, tuple[str, dict[str, str], str]] = {}
    for name in ["Ben Behind", "Cy Idle", "Ada Done"]:
        email = web_stack.unique_email("dash-" + name.split()[0].lower())
        auth = web_stack.auth(web_stack.register(email, "student", name))
        enrolment = _ok(api.post(f"/courses/{cid}/enrollments", headers=auth), 201)["id"]
        learners[name] = (email, auth, enrolment)
    def done(name: str, lesson: str) -> None:
        _, auth, enrolment = learners[name]
        _ok(api.put(f"/enrollments/{enrolment}/lessons/{lesson}/progress", json={"status": "completed"},
                    headers=auth))
    done("Ben Behind", lessons[0])
    for lesson in lessons:
        done("Ada Done", lesson)

    def rollups_filled() -> Any:
        o = _ok(api.get(f"/courses/{cid}/analytics/overview", headers=teacher))
        f = _ok(api.get(f"/courses/{cid}/analytics/lessons", headers=teacher))["items"]
        r = _ok(api.get(f"/courses/{cid}/analytics/at-risk", headers=teacher))["items"]
        ready = (o["enrolled"] == 3 and o["completed"] == 1
                 and [(x["started"], x["completed"]) for x in f] == [(2, 2), (1, 1), (1, 1)] and len(r) == 1)
        return (o, f, r) if ready else None
    overview, funnel, at_risk = web_stack.eventually("the cohort reaches AnalyticsFunction's rollups", rollups_filled,
                                                     timeout=120)
    assert at_risk[0]["name"] == "Ben Behind" and at_risk[0]["reasons"][0]["rule"] == "behind_pace"

    # The instructor finds the dashboard from the course editor.
    sign_in(page, teacher_email, "Teach")
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    analytics_link = page.get_by_role("link", name="Analytics", exact=True)
    expect(analytics_link).to_have_attribute("href", f"#/teach/courses/{cid}/analytics")
    analytics_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Analytics: {title}")
    # Two learners a page, to page through the cohort of three.
    open_view(page, f"/#/teach/courses/{cid}/analytics?limit=2")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Analytics: {title}")
    expect(page.locator("[data-testid=roster] tbody tr")).to_have_count(2)

    # The overview figures are the API's (read again now: the same rollups), in the locale's format.
    overview = _ok(api.get(f"/courses/{cid}/analytics/overview", headers=teacher))
    check_figures(page, overview, ["enrolled", "active_7d", "completed", "completion_rate", "median_days_to_complete"])
    expect(page.locator("[data-figure=enrolled]")).to_have_text("3")

    # The funnel: an SVG image named by its <title>, described by its <desc>, with the data table.
    chart = page.get_by_role("img", name=re.compile(r"^Lesson funnel: learners who started and completed"))
    expect(chart).to_be_visible()
    assert chart.evaluate("e => e.tagName.toLowerCase()") == "svg"
    desc = chart.locator("desc")
    expect(desc).to_have_text("Lesson 1, Alpha: 2 started, 2 completed. Lesson 2, Beta: 1 started, 1 completed. "
                              "Lesson 3, Gamma: 1 started, 1 completed.")
    described_by = chart.get_attribute("aria-labelledby").split()
    assert described_by == [chart.locator("title").get_attribute("id"), desc.get_attribute("id")]
    rows = page.locator("[data-testid=funnel-table] tbody tr")
    expect(rows).to_have_count(3)
    for i, item in enumerate(funnel):
        cells = rows.nth(i).locator("th, td")
        expect(cells.nth(0)).to_have_text(f"{i + 1}. {item['title']}")
        expect(cells.nth(1)).to_have_text(str(item["started"]))
        expect(cells.nth(2)).to_have_text(str(item["completed"]))

    # The at-risk list: Ben, with the API's reason word for word.
    risk = page.locator("[data-testid=at-risk] li.risk")
    expect(risk).to_have_count(1)
    expect(risk.get_by_role("heading", level=3)).to_have_text("Ben Behind")
    expect(risk.locator("[data-rule=behind_pace]")).to_have_text(f"Behind pace: {at_risk[0]['reasons'][0]['detail']}")

    # Content gaps: the list when the endpoint answers, "not available" while it answers 404.
    gaps = api.get(f"/courses/{cid}/analytics/content-gaps", headers=teacher)
    if gaps.status_code == 404:
        expect(page.get_by_test_id("gaps-unavailable")).to_have_text(re.compile("not available"))
    else:
        items = _ok(gaps)["items"]
        if items:
            expect(page.locator("[data-testid=gaps] li.gap")).to_have_count(len(items))
        else:
            expect(page.get_by_test_id("gaps-empty")).to_be_visible()
    shot(page, "course-dashboard")

    # Keyboard only: from the heading, Tab reaches the "On this page" links; Enter on each moves the
    # focus to that section's heading.
    for index, (label, section) in enumerate(SECTIONS):
        open_view(page, f"/#/teach/courses/{cid}/analytics?limit=2&k={index}")
        expect(page.locator("[data-testid=roster] tbody tr")).to_have_count(2)
        for _ in range(index + 1):
            page.keyboard.press("Tab")
        expect(page.get_by_role("navigation", name="On this page").get_by_role("link", name=label)).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(f"#{section}-heading")).to_be_focused()
    # From the Learners heading: Tab to the order, then the pager; Enter on "Next page" shows the
    # third learner and puts the focus on the table.
    open_view(page, f"/#/teach/courses/{cid}/analytics?limit=2")
    expect(page.locator("[data-testid=roster] tbody tr")).to_have_count(2)
    for _ in range(3):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#analytics-learners-heading")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Order", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sort")).to_be_focused()
    page.keyboard.press("Tab")  # "Previous page" is disabled on page 1: Tab skips it
    expect(page.get_by_role("button", name="Next page")).to_be_focused()
    page.keyboard.press("Enter")
    roster = page.get_by_test_id("roster")
    expect(roster).to_be_focused()
    expect(roster.locator("caption")).to_have_text(re.compile("^Learners 3\u20133 of 3"))
    expect(page.get_by_test_id("roster-page")).to_have_text("Page 2")
    expect(roster.locator("tbody tr")).to_have_count(1)
    # Sorting: the API's sort, from the first page again.
    page.get_by_label("Order", exact=True).select_option("-percent")
    page.get_by_role("button", name="Sort").press("Enter")
    expect(page.get_by_test_id("roster-page")).to_have_text("Page 1")
    first = page.get_by_test_id("roster").locator("tbody tr").first
    expect(first.locator("th")).to_have_text("Ada Done")
    expect(first.locator("td[data-label=Progress]")).to_have_text(
        str(page.evaluate("new Intl.NumberFormat(undefined, {style: 'percent'}).format(1)")))
    page_one = _ok(api.get(f"/courses/{cid}/analytics/learners", params={"sort": "-percent", "limit": 2},
                           headers=teacher))
    expect(page.get_by_test_id("roster").locator("tbody th")).to_have_text([r["name"] for r in page_one["items"]])

    # 375 px: no sideways scrolling; the tables become cards.
    page.set_viewport_size({"width": 375, "height": 740})
    open_view(page, f"/#/teach/courses/{cid}/analytics")
    expect(page.locator("[data-testid=roster] tbody tr")).to_have_count(3)
    expect(page.locator("[data-testid=at-risk] li.risk")).to_have_count(1)
    expect(page.get_by_test_id("funnel-chart")).to_be_visible()
    expect(page.locator("#analytics-gaps p[data-testid]")).to_be_visible()
    assert_fits(page)
    shot(page, "course-dashboard-375px")

    # A course with no learners: its empty states.
    page.set_viewport_size({"width": 1280, "height": 860})
    open_view(page, f"/#/teach/courses/{empty_cid}/analytics")
    expect(page.get_by_test_id("no-learners")).to_be_visible()
    expect(page.locator("[data-figure=enrolled]")).to_have_text("0")
    expect(page.get_by_test_id("roster-empty")).to_be_visible()
    expect(page.get_by_test_id("at-risk-empty")).to_be_visible()
    expect(page.get_by_test_id("funnel-table").locator("tbody tr")).to_have_count(1)
    shot(page, "empty-course-dashboard")
    sign_out(page)

    # A learner never sees the link, and the address itself says "Not allowed" (the API answers 403).
    ben_email = learners["Ben Behind"][0]
    sign_in(page, ben_email, "Course catalogue")
    expect(page.get_by_role("link", name="Teach")).to_have_count(0)
    page.goto(f"/#/courses/{cid}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("a[href*='/analytics']")).to_have_count(0)
    with page.expect_response(lambda r: r.url.endswith(f"/courses/{cid}/analytics/overview")) as answer:
        page.goto(f"/#/teach/courses/{cid}/analytics")
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_test_id("not-allowed")).to_contain_text("instructor and administrators only")
    expect(page.get_by_role("status")).to_contain_text("only the course's instructor and admins")
    shot(page, "learner-not-allowed")
    sign_out(page)

    # An admin: "Platform analytics" on the Teach page, the figures the API gives.
    admin_email = web_stack.unique_email("dash-admin")
    admin = web_stack.auth(web_stack.make_admin(admin_email, name="Ann Admin"))
    sign_in(page, admin_email, "Teach")
    page.get_by_role("link", name="Platform analytics (all courses)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Platform analytics")
    expect(page.locator("[data-figure=courses]")).not_to_have_text("")
    platform = _ok(api.get("/admin/analytics/overview", headers=admin))
    check_figures(page, platform, ["courses", "learners", "enrolled", "active_7d", "completed", "completion_rate",
                                   "median_days_to_complete", "minutes_7d"])
    shot(page, "platform-analytics")


def test_content_gaps_not_available_listed_and_failing(page: Any, web_stack: WebStack, shot: Any) -> None:
    """The content-gaps section's three states, the endpoint's answer replaced in the browser (the real
    answer fetched first, so its CORS headers are the API's): a 404 says "not available", a list shows
    each gap with its examples, nearest lessons and status, and another failure goes to the status
    region and the section (with "Try again")."""
    api = web_stack.api
    teacher_email = web_stack.unique_email("gaps-teacher")
    teacher = web_stack.auth(web_stack.register(teacher_email, "instructor", "Gus Gaps"))
    cid, lessons = publish(api, teacher, f"Gaps {web_stack.stage}", ["Orbits", "Eclipses"])
    answer: dict[str, Any] = {}

    def substitute(route: Any) -> None:
        real = route.fetch()
        route.fulfill(response=real, status=answer["status"], json=answer["body"])
    page.route(re.compile(r".*/analytics/content-gaps$"), substitute)
    sign_in(page, teacher_email, "Teach")

    answer.update(status=404, body={"error": {"code": "not_found", "message": "no route"}})
    open_view(page, f"/#/teach/courses/{cid}/analytics")
    expect(page.get_by_test_id("gaps-unavailable")).to_have_text(
        "Content gaps are not available yet: this server does not report them.")

    answer.update(status=200, body={"items": [
        {"id": "6f1c8a52-5d7e-4d8a-9c4e-0b7b7a1f0001", "label": "Why is the Moon red in an eclipse?", "questions": 5,
         "learners": 4, "examples": ["why does the moon turn red", "Moon red during eclipse?"],
         "nearest_lessons": [{"lesson_id": lessons[1], "title": "Eclipses"}], "status": "open",
         "covered_version": None, "covered_at": None, "first_asked_at": "2026-12-01T10:00:00Z",
         "last_asked_at": "2026-12-05T10:00:00Z"},
        {"id": "6f1c8a52-5d7e-4d8a-9c4e-0b7b7a1f0002", "label": "How long is a lunar month?", "questions": 3,
         "learners": 3, "examples": ["how long is a lunar month"],
         "nearest_lessons": [{"lesson_id": lessons[0], "title": "Orbits"}], "status": "covered",
         "covered_version": 2, "covered_at": "2026-12-06T09:00:00Z", "first_asked_at": "2026-12-01T10:00:00Z",
         "last_asked_at": "2026-12-02T10:00:00Z"}]})
    open_view(page, f"/#/teach/courses/{cid}/analytics?v=2")
    gaps = page.locator("[data-testid=gaps] li.gap")
    expect(gaps).to_have_count(2)
    expect(gaps.nth(0).get_by_role("heading", level=3)).to_have_text("Why is the Moon red in an eclipse? Open")
    expect(gaps.nth(0).locator(".examples li")).to_have_text(["why does the moon turn red", "Moon red during eclipse?"])
    expect(gaps.nth(0).get_by_role("link", name="Eclipses")).to_have_attribute(
        "href", f"#/courses/{cid}/lessons/{lessons[1]}")
    expect(gaps.nth(0).locator(".gap-facts")).to_contain_text("5 questions from 4 learners")
    expect(gaps.nth(1).get_by_role("heading", level=3)).to_have_text("How long is a lunar month? Covered")
    expect(gaps.nth(1).locator(".gap-facts")).to_contain_text("covered by version 2")
    shot(page, "content-gaps")

    answer.update(status=503, body={"error": {"code": "unavailable", "message": "The database is busy."}})
    open_view(page, f"/#/teach/courses/{cid}/analytics?v=3")
    section = page.locator("#analytics-gaps")
    expect(section.get_by_test_id("section-error")).to_contain_text("Could not load the content gaps.")
    expect(section.get_by_test_id("section-error")).to_contain_text("The database is busy.")
    expect(page.get_by_role("status")).to_have_text("Content gaps: The database is busy.")
    answer.update(status=200, body={"items": []})
    section.get_by_role("button", name="Try again").click()
    expect(section.get_by_test_id("gaps-empty")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Every section of the dashboard is loaded.")
