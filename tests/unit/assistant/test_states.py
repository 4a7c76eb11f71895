"""Honest assistant states: the course state from (latest published, live) versions, the refusal
reasons, and document counts (pure rules, no I/O)."""

from __future__ import annotations

import uuid

import pytest

from smartcourse.assistant import domain, states
from smartcourse.assistant.domain import Answer, Citation, Passage
from smartcourse.assistant.states import Versions


@pytest.mark.parametrize(("latest", "live", "state"), [
    (None, None, "not_indexed"),   # never published
    (1, None, "indexing"),         # published, the AI side has not switched it live yet
    (2, 1, "indexing"),            # a new version is being indexed; version 1 still answers
    (1, 1, "live"),
    (3, 3, "live"),
    (2, 3, "live"),                # the AI side is never behind what it serves
    (None, 1, "live"),             # something is live and the LMS reports nothing newer
])
def test_course_state(latest: int | None, live: int | None, state: str) -> None:
    assert states.course_state(latest, live) == state
    assert Versions(latest, live).state == state


def test_nothing_live_is_refused_before_retrieval_with_the_reason_why() -> None:
    assert states.refusal_before_retrieval(Versions(1, None)) == "indexing"
    assert states.refusal_before_retrieval(Versions(None, None)) == "not_published"
    assert states.refusal_before_retrieval(Versions(2, 1)) is None  # the live version answers
    assert states.refusal_before_retrieval(Versions(1, 1)) is None


def test_refusal_texts_say_why() -> None:
    indexing = domain.refusal("extractive", domain.REASON_INDEXING)
    assert indexing.refused and indexing.reason == "indexing" and indexing.citations == []
    assert "still being prepared" in indexing.text and "do not cover" not in indexing.text
    assert domain.refusal("m").reason == "not_covered" and domain.refusal("m").text == domain.REFUSAL
    assert "no published material" in domain.refusal("m", domain.REASON_NOT_PUBLISHED).text


def _answered() -> Answer:
    c = Citation(1, uuid.uuid4(), None, "T", {}, "s", 1.0, 7)
    return Answer("The Moon orbits the Earth [1].", [c], False, "extractive")


def test_a_not_covered_refusal_while_a_newer_version_is_indexing_says_indexing() -> None:
    settled = states.settle_refusal(domain.refusal("extractive"), Versions(2, 1))
    assert settled.refused and settled.reason == "indexing" and settled.reason != "not_covered"
    assert settled.text == domain.REFUSAL_NEWER_VERSION_INDEXING


def test_a_not_covered_refusal_of_the_latest_version_stays_not_covered() -> None:
    settled = states.settle_refusal(domain.refusal("extractive"), Versions(2, 2))
    assert settled.reason == "not_covered" and settled.text == domain.REFUSAL


def test_answers_and_guard_refusals_are_not_turned_into_indexing() -> None:
    answer = states.settle_refusal(_answered(), Versions(2, 1))
    assert not answer.refused and answer.reason is None and answer.citations
    guard = domain.refusal("groq:m", domain.REASON_UNSUPPORTED_ANSWER)
    assert states.settle_refusal(guard, Versions(2, 1)).reason == "unsupported_answer"


def test_guarded_llm_answers_carry_their_reason() -> None:
    ps = [Passage(chunk_id=1, asset_id=uuid.uuid4(), chunk_set_id=uuid.uuid4(), ordinal=0, title="Doc",
                  text="The Moon orbits the Earth every 27.3 days.", metadata={}, similarity=0.8)]
    assert domain.grounded_llm_answer("NOT_COVERED", ps, "groq:m", 60).reason == "not_covered"
    unsupported = domain.grounded_llm_answer("Bananas are yellow and grow on trees [1].", ps, "groq:m", 60)
    assert unsupported.refused and unsupported.reason == "unsupported_answer" and "guard" in unsupported.usage
    ok = domain.grounded_llm_answer("The Moon orbits the Earth every 27.3 days [1].", ps, "groq:m", 60)
    assert not ok.refused and ok.reason is None


def test_document_counts_treat_uploaded_processing_and_missing_as_processing() -> None:
    counts = states.count_documents(["ready", "ready", "uploaded", "processing", None, "failed"])
    assert counts.as_dict() == {"ready": 2, "processing": 3, "failed": 1}
    assert states.count_documents([]).as_dict() == {"ready": 0, "processing": 0, "failed": 0}
