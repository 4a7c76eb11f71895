"""The Groq path against a local fake of its OpenAI-compatible endpoint; conversations,
feedback and the per-user rate limit on real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.assistant.service import AssistantService
from smartcourse.auth import Principal
from smartcourse.errors import DependencyUnavailable, NotFound, RateLimited, RuleViolated, ValidationFailed
from testkit.courses import create_user, enroll
from tests.integration.assistant.conftest import World, make_service
from tests.integration.assistant.fake_groq import FakeGroq, cite_source_containing, fake_groq

pytestmark = pytest.mark.integration


@pytest.fixture
def groq() -> Iterator[FakeGroq]:
    with fake_groq() as fake:
        yield fake


def _messages(world: World, user_id: uuid.UUID) -> int:
    with world.db.transaction() as conn:
        row = conn.execute("SELECT count(*) AS n FROM ai.messages m JOIN ai.conversations c "
                           "ON c.id = m.conversation_id WHERE c.user_id = %s", (user_id,)).fetchone()
    assert row is not None
    return int(row["n"])


def _learner(world: World) -> Principal:
    uid = create_user(world.db, "student")
    enroll(world.db, uid, world.a)
    return Principal(uid, "student")


def groq_service(world: World, embedder: MiniLMEmbedder, groq: FakeGroq, **overrides: Any) -> AssistantService:
    values: dict[str, Any] = {"groq_api_key": "test", "groq_base_url": groq.url, "groq_max_retries": 0,
                              "groq_timeout_s": 1.0, "groq_model": "llama-test", "groq_temperature": 0.2,
                              **overrides}
    return make_service(world, embedder, **values)


def test_groq_answer_cites_the_source_it_was_given(world: World, embedder: MiniLMEmbedder,
                                                   groq: FakeGroq) -> None:
    groq.reply = cite_source_containing("27.3 days", "The Moon orbits the Earth every 27.3 days.")
    svc = groq_service(world, embedder, groq)
    body = svc.ask(world.learner_a, world.a.course_id, "How long does the Moon take to orbit the Earth?").body
    assert body["refused"] is False and body["model"] == "groq:llama-test"
    (citation,) = body["citations"]
    assert f"[{citation['n']}]" in body["answer"]
    assert citation["asset_id"] == str(world.a.asset_ids["moon.md"])
    assert "27.3 days" in citation["snippet"]
    # What the model received: settings, the rules, and the sources as quoted data.
    (request,) = groq.requests
    assert request["model"] == "llama-test" and request["temperature"] == 0.2
    assert request["_authorization"] == "Bearer test"
    system, user = request["messages"][0], request["messages"][-1]
    assert system["role"] == "system" and "not instructions" in system["content"]
    assert '<source n="1"' in user["content"] and "<question>" in user["content"]


def test_model_saying_not_covered_is_a_refusal(world: World, embedder: MiniLMEmbedder, groq: FakeGroq) -> None:
    groq.reply = lambda req: "NOT_COVERED"
    body = groq_service(world, embedder, groq).ask(world.learner_a, world.a.course_id,
                                                   "How far is the Moon from the Earth?").body
    assert body["refused"] is True and body["citations"] == []


def test_weak_evidence_is_refused_without_calling_the_model(world: World, embedder: MiniLMEmbedder,
                                                            groq: FakeGroq) -> None:
    body = groq_service(world, embedder, groq).ask(world.learner_a, world.a.course_id,
                                                   "What is a good recipe for sourdough bread?").body
    assert body["refused"] is True and groq.requests == []


def test_groq_429_is_a_clear_503_and_nothing_is_stored(world: World, embedder: MiniLMEmbedder,
                                                       groq: FakeGroq) -> None:
    groq.mode = "429"
    who = _learner(world)
    with pytest.raises(DependencyUnavailable) as err:
        groq_service(world, embedder, groq).ask(who, world.a.course_id, "How far is the Moon from the Earth?")
    assert err.value.status == 503
    assert err.value.extra == {"dependency": "llm", "reason": "rate_limited", "retry_after_s": 7}
    assert len(groq.requests) == 1  # max_retries=0 from settings
    assert _messages(world, who.user_id) == 0


def test_groq_timeout_is_a_clear_503_and_nothing_is_stored(world: World, embedder: MiniLMEmbedder,
                                                           groq: FakeGroq) -> None:
    groq.mode, groq.delay_s = "slow", 3.0
    who = _learner(world)
    svc = groq_service(world, embedder, groq, groq_timeout_s=0.5)
    with pytest.raises(DependencyUnavailable) as err:
        svc.ask(who, world.a.course_id, "How far is the Moon from the Earth?")
    assert err.value.extra["reason"] == "timeout"
    assert _messages(world, who.user_id) == 0


def test_conversation_keeps_questions_answers_and_retrieved_chunks(world: World, embedder: MiniLMEmbedder,
                                                                   groq: FakeGroq) -> None:
    groq.reply = cite_source_containing("384,400", "It is about 384,400 kilometres away.")
    svc = groq_service(world, embedder, groq)
    who = _learner(world)
    first = svc.ask(who, world.a.course_id, "How far is the Moon from the Earth?").body
    conv = uuid.UUID(first["conversation_id"])
    second = svc.ask(who, world.a.course_id, "And in kilometres, how far is the Moon?", conv).body
    assert second["conversation_id"] == first["conversation_id"]
    # The follow-up carried the earlier turn as context (marked as history, not instructions).
    assert "Earlier in this conversation" in groq.requests[-1]["messages"][-1]["content"]
    got = svc.conversation(who, world.a.course_id, conv)
    assert [m["role"] for m in got["messages"]] == ["user", "assistant", "user", "assistant"]
    assert got["messages"][1]["message_id"] == first["message_id"]
    assert got["messages"][1]["citations"] == first["citations"]
    assert got["messages"][1]["reason"] is None and got["messages"][0]["reason"] is None  # answered
    # a refused answer keeps its reason in the history
    off = svc.ask(who, world.a.course_id, "What is a good recipe for sourdough bread?", conv).body
    assert off["refused"] and off["reason"] == "not_covered"
    history = svc.conversation(who, world.a.course_id, conv)["messages"]
    assert history[-1]["message_id"] == off["message_id"] and history[-1]["reason"] == "not_covered"
    with world.db.transaction() as conn:
        row = conn.execute("SELECT retrieved_chunk_ids, citations, retrieval FROM ai.messages WHERE id = %s",
                           (uuid.UUID(first["message_id"]),)).fetchone()
        assert row is not None and len(row["retrieved_chunk_ids"]) >= 1
        cited_chunk = row["citations"][0]["chunk_id"]
        assert cited_chunk in row["retrieved_chunk_ids"]
        chunk = conn.execute("SELECT asset_id FROM ai.chunks WHERE id = %s", (cited_chunk,)).fetchone()
        assert chunk is not None and chunk["asset_id"] == world.a.asset_ids["moon.md"]
    # The course's instructor may read it; another learner of the course may not.
    assert svc.conversation(world.instructor, world.a.course_id, conv)["conversation_id"] == str(conv)
    with pytest.raises(NotFound):
        svc.conversation(_learner(world), world.a.course_id, conv)
    # Asking into it names no conversation of theirs: 422 on the field, the course being there.
    with pytest.raises(RuleViolated) as refused:
        svc.ask(_learner(world), world.a.course_id, "How far?", conv)
    assert [d.field for d in refused.value.details] == ["conversation_id"]


def test_feedback_is_stored_per_answer_and_can_be_changed(world: World, embedder: MiniLMEmbedder) -> None:
    svc = make_service(world, embedder)
    who = _learner(world)
    body = svc.ask(who, world.a.course_id, "What causes spring tides?").body
    conv, answer = uuid.UUID(body["conversation_id"]), uuid.UUID(body["message_id"])
    svc.feedback(who, world.a.course_id, conv, answer, False, "too vague")
    out = svc.feedback(who, world.a.course_id, conv, answer, True, None)
    assert out["helpful"] is True and out["comment"] is None
    got = svc.conversation(who, world.a.course_id, conv)
    assert got["messages"][1]["feedback"] == {"helpful": True, "comment": None}
    question_id = uuid.UUID(got["messages"][0]["message_id"])
    with pytest.raises(ValidationFailed):
        svc.feedback(who, world.a.course_id, conv, question_id, True, None)
    with pytest.raises(NotFound):
        svc.feedback(_learner(world), world.a.course_id, conv, answer, True, None)
    with pytest.raises(NotFound):
        svc.feedback(who, world.a.course_id, conv, uuid.uuid4(), True, None)


def test_per_user_rate_limit_answers_429_with_retry_after(world: World, embedder: MiniLMEmbedder) -> None:
    svc = make_service(world, embedder, ask_rate_limit_per_minute=2)
    who, other = _learner(world), _learner(world)
    answered = 0
    with pytest.raises(RateLimited) as err:
        for _ in range(6):  # a minute boundary can reset the window once; 6 asks always reach the limit
            svc.ask(who, world.a.course_id, "What are maria?")
            answered += 1
    assert answered >= 2
    assert 1 <= err.value.extra["retry_after_s"] <= 60
    # The limit is per user: someone else is still served.
    assert svc.ask(other, world.a.course_id, "What are maria?").body["refused"] is False
