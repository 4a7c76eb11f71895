"""Hybrid retrieval, extractive grounded answers, refusals, access and isolation, on real pgvector
with chunks indexed by the real ingestion path."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from smartcourse.assistant.domain import REFUSAL
from smartcourse.assistant.retrieval import Retriever
from smartcourse.assistant.service import AssistantService
from smartcourse.errors import Forbidden, NotFound, ValidationFailed
from tests.integration.assistant.conftest import World

pytestmark = pytest.mark.integration


def test_learner_gets_an_extractive_answer_citing_the_lesson_and_heading(world: World,
                                                                          service: AssistantService) -> None:
    # Given a learner enrolled in the Moon course
    # When they ask how long the Moon takes to orbit the Earth
    result = service.ask(world.learner_a, world.a.course_id, "How long does the Moon take to orbit the Earth?")
    body = result.body
    # Then the answer is grounded: the sidereal period, cited to the Moon lesson's "Orbit" section
    assert body["refused"] is False and body["model"] == "extractive"
    assert "27.3 days" in body["answer"]
    assert "[1]" in body["answer"] or "[2]" in body["answer"]
    moon_asset = world.a.asset_ids["moon.md"]
    cited = {c["asset_id"] for c in body["citations"]}
    assert str(moon_asset) in cited
    first = next(c for c in body["citations"] if c["asset_id"] == str(moon_asset))
    assert first["lesson_id"] == str(world.a.lesson_ids[moon_asset])
    assert first["title"] == "The Moon: orbit and tides"
    assert first["location"]["heading_path"][-1] == "Orbit"
    assert "27.3" in first["snippet"] and 0 < first["score"] <= 1
    # every [n] in the answer has its citation
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["answer"]


def test_a_question_the_course_does_not_cover_is_refused(world: World, service: AssistantService) -> None:
    result = service.ask(world.learner_a, world.a.course_id, "What is a good recipe for sourdough bread?")
    assert result.body["refused"] is True
    assert result.body["answer"] == REFUSAL and result.body["citations"] == []
    with world.db.transaction() as conn:
        row = conn.execute("SELECT refused, content FROM ai.messages WHERE id = %s",
                           (uuid.UUID(result.body["message_id"]),)).fetchone()
    assert row is not None and row["refused"] is True


def test_answers_for_one_course_never_cite_another_course_nor_an_unpublished_upload(
        world: World, service: AssistantService) -> None:
    a_assets = {str(x) for x in world.a.asset_ids.values()}
    b_assets = {str(x) for x in world.b.asset_ids.values()}
    questions = ["How long does the moon take to orbit?", "How far away is the moon?",
                 "Who discovered the moons?", "What is the Moon made of?", "What is the secret orbital period?"]
    for q in questions:
        a = service.ask(world.learner_a, world.a.course_id, q).body
        b = service.ask(world.learner_b, world.b.course_id, q).body
        assert {c["asset_id"] for c in a["citations"]} <= a_assets, (q, a)
        assert {c["asset_id"] for c in b["citations"]} <= b_assets, (q, b)
        assert "cheese" not in a["answer"] and "99 days" not in a["answer"]
        hits_a = service.search(world.learner_a, world.a.course_id, q, 50)["items"]
        hits_b = service.search(world.learner_b, world.b.course_id, q, 50)["items"]
        assert {h["asset_id"] for h in hits_a} <= a_assets
        assert {h["asset_id"] for h in hits_b} <= b_assets
        assert str(world.draft_asset) not in {h["asset_id"] for h in hits_a}
    # The confusable question gets each course's own fact.
    mars = service.ask(world.learner_b, world.b.course_id, "How long does Phobos take to orbit Mars?").body
    assert "7.6 hours" in mars["answer"] and "27.3" not in mars["answer"]


def test_the_draft_upload_is_indexed_but_not_live(world: World) -> None:
    # The isolation test above means something only if the draft really is in the index.
    with world.db.transaction() as conn:
        row = conn.execute("SELECT count(*) AS n FROM ai.chunks WHERE asset_id = %s", (world.draft_asset,)).fetchone()
        live = conn.execute("SELECT count(*) AS n FROM ai.live_chunk_sets WHERE asset_id = %s",
                            (world.draft_asset,)).fetchone()
    assert row is not None and row["n"] > 0
    assert live is not None and live["n"] == 0


def test_search_ranks_the_matching_section_first_with_lesson_and_snippet(world: World,
                                                                         service: AssistantService) -> None:
    items = service.search(world.learner_a, world.a.course_id, "spring tides alignment", 5)["items"]
    assert items, "no results"
    top = items[0]
    assert top["asset_id"] == str(world.a.asset_ids["moon.md"])
    assert top["location"]["heading_path"][-1] == "Tides"
    assert "Spring tides" in top["snippet"]
    assert top["lesson_id"] == str(world.a.lesson_ids[world.a.asset_ids["moon.md"]])
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)


def test_websearch_syntax_quoted_phrase_finds_the_exact_passage(world: World, service: AssistantService) -> None:
    items = service.search(world.learner_a, world.a.course_id, '"Sea of Tranquility"', 3)["items"]
    assert items[0]["asset_id"] == str(world.a.asset_ids["surface.md"])
    assert "Tranquility" in items[0]["snippet"]


@pytest.mark.parametrize("who", ["learner_a", "instructor", "admin"])
def test_enrolled_learners_the_instructor_and_admins_may_ask(world: World, service: AssistantService,
                                                             who: str) -> None:
    body = service.ask(getattr(world, who), world.a.course_id, "What are maria?").body
    assert body["refused"] is False and "basaltic" in body["answer"]


@pytest.mark.parametrize("who", ["outsider", "cancelled", "learner_b"])
def test_others_are_forbidden(world: World, service: AssistantService, who: str) -> None:
    with pytest.raises(Forbidden):
        service.ask(getattr(world, who), world.a.course_id, "What are maria?")
    with pytest.raises(Forbidden):
        service.search(getattr(world, who), world.a.course_id, "maria")


def test_unknown_course_is_not_found_and_bad_input_is_named(world: World, service: AssistantService) -> None:
    with pytest.raises(NotFound):
        service.ask(world.admin, uuid.uuid4(), "anything?")
    with pytest.raises(ValidationFailed) as empty:
        service.ask(world.learner_a, world.a.course_id, "   ")
    assert empty.value.details[0].field == "question"
    with pytest.raises(ValidationFailed) as limit:
        service.search(world.learner_a, world.a.course_id, "moon", 500)
    assert limit.value.details[0].field == "limit"


def test_a_fact_only_the_other_course_has_is_refused_here_and_answered_there(world: World,
                                                                           service: AssistantService) -> None:
    here = service.ask(world.learner_a, world.a.course_id, "Who discovered the moons?").body
    there = service.ask(world.learner_b, world.b.course_id, "Who discovered the moons?").body
    assert here["refused"] is True and "Asaph Hall" not in here["answer"]
    assert there["refused"] is False and "Asaph Hall" in there["answer"]


def test_each_ranking_finds_the_passage_on_its_own(world: World, service: AssistantService) -> None:
    moon = str(world.a.asset_ids["moon.md"])
    for mode in ("text", "vector", "hybrid"):
        items = service.search(world.learner_a, world.a.course_id, "sidereal month", 3, mode=mode)["items"]
        assert items and items[0]["asset_id"] == moon, mode
    # Full text alone: a word that occurs nowhere finds nothing.
    assert service.search(world.learner_a, world.a.course_id, "zyxwvut", 3, mode="text")["items"] == []


def test_a_retrieval_plans_every_statement_for_its_parameters(world: World, embedder: Any) -> None:
    """The live chunk sets travel as one `text::uuid[]` parameter: only a custom plan folds that cast
    into a constant, so the retrieving transaction never lets a prepared statement go generic."""
    retriever = Retriever(embedder)
    with world.db.transaction() as conn:
        assert conn.execute("SELECT current_setting('plan_cache_mode') AS m").fetchone()["m"] == "auto"
        for _ in range(12):  # past psycopg's prepare threshold and PostgreSQL's 5 custom plans
            assert retriever.retrieve(conn, world.a.course_id, "sidereal month", 3).passages
        assert conn.execute("SELECT current_setting('plan_cache_mode') AS m").fetchone()["m"] == "force_custom_plan"
    with world.db.transaction() as conn:  # transaction-local: nothing else on the connection changes
        assert conn.execute("SELECT current_setting('plan_cache_mode') AS m").fetchone()["m"] == "auto"
