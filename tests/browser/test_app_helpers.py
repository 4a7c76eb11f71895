"""The app's pure helpers, run in the browser as the app runs them (ES modules imported by the
page): how citation locations and progress are put into words, and that h() never makes markup
out of text."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def run(page: Any, module: str, expression: str, arg: Any) -> Any:
    page.goto("/#/signin")
    return page.evaluate(f"async (arg) => {{ const m = await import('/{module}'); return {expression}; }}", arg)


@pytest.mark.parametrize(("location", "words"), [
    ({"page": 2}, "page 2"),
    ({"slide": 3, "title": "Phases"}, "slide 3 (Phases)"),
    ({"slide": 4}, "slide 4"),
    ({"start": "00:01:05.000", "end": "00:01:30.500", "start_seconds": 65, "end_seconds": 90.5},
     "00:01:05.000\u201300:01:30.500"),
    ({"start_seconds": 3725}, "at 1:02:05"),
    ({"heading_path": ["Tides", "Spring and neap tides"], "line": 9}, "Tides \u203a Spring and neap tides"),
    ({"paragraph": 4, "line": 12}, "paragraph 4"),
    ({"line": 7}, "line 7"),
    ({}, ""),
    (None, ""),
])
def test_citation_locations_in_words(page: Any, location: Any, words: str) -> None:
    assert run(page, "ui.js", "m.describeLocation(arg)", location) == words


def test_citation_links_carry_the_location_and_need_a_lesson(page: Any) -> None:
    href = run(page, "views/assistant.js", "m.citationHref('c1', arg)",
               {"lesson_id": "l1", "title": "Notes", "location": {"page": 2}})
    assert href == "#/courses/c1/lessons/l1?at=page+2&source=Notes&page=2"
    slide = run(page, "views/assistant.js", "m.citationHref('c1', arg)",
                {"lesson_id": "l1", "title": "Deck", "location": {"slide": 3}})
    assert slide == "#/courses/c1/lessons/l1?at=slide+3&source=Deck"
    assert run(page, "views/assistant.js", "m.citationHref('c1', arg)",
               {"lesson_id": None, "title": "Notes", "location": {"page": 2}}) is None


def _progress(statuses: list[tuple[str, bool, str]], percent: int, completed: bool = False) -> dict[str, Any]:
    lessons = [{"lesson_id": t, "title": t, "required": req, "status": st} for t, req, st in statuses]
    basis = [x for x in lessons if x["required"]] or lessons
    return {"percent": percent, "completed": completed, "lessons": lessons,
            "remaining": [{"lesson_id": x["lesson_id"], "title": x["title"], "why": "not completed"}
                          for x in basis if x["status"] != "completed"]}


def test_progress_says_what_is_left_over_required_lessons(page: Any) -> None:
    p = _progress([("Intro", True, "completed"), ("Orbit", True, "not_started"), ("Extra", False, "not_started"),
                   ("Phases", True, "in_progress")], 33)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", p) == "2 of 3 lessons left: Orbit, Phases"
    done = _progress([("Intro", True, "completed")], 100, completed=True)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", done) == "Course completed: all 1 lesson done."
    optional_only = _progress([("A", False, "completed"), ("B", False, "not_started")], 50)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", optional_only) == "1 of 2 lessons left: B"


def test_progress_names_a_few_lessons_left_and_counts_the_rest(page: Any) -> None:
    many = _progress([("Intro", True, "completed")] + [(f"Lesson {i}", True, "not_started") for i in range(2, 81)], 1)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", many) == \
        "79 of 80 lessons left: Lesson 2, Lesson 3, Lesson 4 and 76 more"
    four = _progress([(t, True, "not_started") for t in ("A", "B", "C", "D")] + [("E", True, "completed")], 20)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", four) == "4 of 5 lessons left: A, B, C, D"
    five = _progress([(t, True, "not_started") for t in ("A", "B", "C", "D", "E")], 0)
    assert run(page, "views/learning.js", "m.progressSummary(arg)", five) == "5 of 5 lessons left: A, B, C and 2 more"


def test_h_puts_text_in_text_nodes(page: Any) -> None:
    made = run(page, "dom.js", """(() => { const el = m.h('p', {title: arg}, arg, null, false, [arg]);
        return {elements: el.querySelectorAll('*').length, kinds: [...el.childNodes].map((n) => n.nodeType),
                text: el.textContent, title: el.getAttribute('title')}; })()""", "<b onclick=x>&amp;</b>")
    assert made == {"elements": 0, "kinds": [3, 3], "text": "<b onclick=x>&amp;</b>" * 2,
                    "title": "<b onclick=x>&amp;</b>"}


@pytest.mark.parametrize(("status", "words"), [
    ({"state": "live", "live_version": 2, "latest_version": 2, "documents": {"ready": 3, "processing": 0,
                                                                             "failed": 0}},
     "Assistant: ready."),
    ({"state": "live", "live_version": 1, "latest_version": 1, "documents": {"ready": 2, "processing": 0,
                                                                             "failed": 1}},
     "Assistant: ready (1 document could not be read)."),
    ({"state": "indexing", "live_version": None, "latest_version": 1, "documents": {"ready": 3, "processing": 2,
                                                                                    "failed": 0}},
     "Course material is being prepared for the assistant (3 of 5 documents ready). "
     "You can ask as soon as it is ready: this page updates by itself."),
    ({"state": "indexing", "live_version": 1, "latest_version": 2, "documents": {"ready": 1, "processing": 0,
                                                                                 "failed": 1}},
     "The new version of the course material is being prepared for the assistant (1 of 2 documents ready, "
     "1 could not be read); until it is ready, answers come from the previous version."),
    ({"state": "not_indexed", "live_version": None, "latest_version": None,
      "documents": {"ready": 0, "processing": 0, "failed": 0}}, ""),
    (None, ""),
])
def test_assistant_states_in_words(page: Any, status: Any, words: str) -> None:
    assert run(page, "views/assistant.js", "m.assistantStateText(arg)", status) == words
