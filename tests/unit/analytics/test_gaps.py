"""Content gaps as the instructor sees them: the >= 3 learners rule, labels and examples scrubbed
of what could identify the asker."""

from __future__ import annotations

import pytest

from smartcourse.analytics import gaps


def test_only_clusters_of_three_learners_or_more_are_shown() -> None:
    assert gaps.MIN_LEARNERS == 3
    assert not gaps.shown(0) and not gaps.shown(2)
    assert gaps.shown(3) and gaps.shown(40)


@pytest.mark.parametrize(("text", "expected"), [
    ("my email is ada.lovelace+course@uni.example.org, can you reply?", "my email is [email], can you reply?"),
    ("call me on +44 7700 900123 about the exam", "call me on [number] about the exam"),
    ("student id 20231234 cannot open lesson 3", "student id [number] cannot open lesson 3"),
    ("see https://example.com/x?y=1 for my notes", "see [link] for my notes"),
    ("ask @ada_l about the 2026 exam (HTTP 404)", "ask [handle] about the 2026 exam (HTTP 404)"),
    ("  When   is the exam?  ", "When is the exam?"),
])
def test_scrub(text: str, expected: str) -> None:
    assert gaps.scrub(text) == expected


def test_label_is_the_scrubbed_question_shortened() -> None:
    assert gaps.label("When is the library open? mail me: a@b.io") == "When is the library open? mail me: [email]"
    long = "why " * 40
    out = gaps.label(long)
    assert len(out) <= gaps.LABEL_CHARS and out.endswith("…")


def test_examples_distinct_scrubbed_at_most_three() -> None:
    qs = ["When is the exam?", "when is the exam?", "Exam date? mail x@y.com", "When's the final?", "Final date?"]
    assert gaps.examples(qs) == ["When is the exam?", "Exam date? mail [email]", "When's the final?"]
    assert gaps.examples([]) == []
