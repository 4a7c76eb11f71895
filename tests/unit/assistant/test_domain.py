"""The assistant's pure rules: fusion, near duplicates, evidence, extractive answers, citations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pytest

from smartcourse.assistant import domain
from smartcourse.assistant import text as tx
from smartcourse.assistant.domain import Passage


def bag_embed(texts: Sequence[str]) -> np.ndarray:
    """A deterministic fake embedding: hashed bag of stemmed terms, L2-normalised."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for term in tx.terms(t):
            out[i, hash(term) % 64] += 1.0
        n = np.linalg.norm(out[i])
        if n:
            out[i] /= n
    return out


def passage(text: str, n: int = 1, *, context: str = "", similarity: float | None = None,
            fused: float = 0.01) -> Passage:
    vec = bag_embed([text])[0]
    full = f"{context}\n\n{text}" if context else text
    return Passage(chunk_id=n, asset_id=uuid.uuid4(), chunk_set_id=uuid.uuid4(), ordinal=n, title="Doc",
                   text=full, metadata={"heading_path": ["Doc", f"S{n}"], "context": context},
                   similarity=similarity if similarity is not None else 0.5, fused=fused, embedding=vec)


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    scores = domain.reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert domain.fused_order(scores) == [1, 3, 2, 4]
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[4] == pytest.approx(1 / 63)


def test_near_duplicates_are_removed_keeping_the_first() -> None:
    a = passage("The Moon orbits the Earth every 27.3 days.", 1)
    same_text = passage("the moon orbits the earth every 27.3 days", 2)
    other = passage("Tides are raised by the Moon's gravity.", 3)
    kept = domain.remove_near_duplicates([a, same_text, other], threshold=0.97)
    assert [p.chunk_id for p in kept] == [1, 3]
    close = passage("The Moon orbits the Earth every 27.3 days!", 4)  # same bag of terms -> cosine 1
    assert [p.chunk_id for p in domain.remove_near_duplicates([a, close], 0.97)] == [1]


def test_evidence_needs_similarity_or_term_coverage() -> None:
    weak = [passage("Basalt lava filled the basins.", similarity=0.1)]
    assert not domain.assess_evidence("How long is a sidereal month?", weak, min_similarity=0.4,
                                      min_coverage=0.6).sufficient
    covered = [passage("A sidereal month is 27.3 days long.", similarity=0.1)]
    assert domain.assess_evidence("How long is a sidereal month?", covered, min_similarity=0.4,
                                  min_coverage=0.6).sufficient
    close = [passage("Unrelated words entirely.", similarity=0.8)]
    assert domain.assess_evidence("anything?", close, min_similarity=0.4, min_coverage=0.6).sufficient
    assert not domain.assess_evidence("anything?", [], min_similarity=0.4, min_coverage=0.6).sufficient


def test_extractive_answer_picks_the_matching_sentences_in_order_and_cites_them() -> None:
    p1 = passage("Tides come twice a day. The Moon raises tidal bulges in the oceans. Crabs like beaches.", 1,
                 context="Course > Tides")
    p2 = passage("Spring tides happen when the Sun and Moon align. Neap tides are weaker.", 2)
    q = "What raises tidal bulges in the oceans?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], [p1, p2], bag_embed, max_sentences=3, min_score=0.3,
                                   rrf_k=60)
    assert not ans.refused and ans.model == "extractive"
    assert ans.text.startswith("The Moon raises tidal bulges in the oceans. [1]")
    assert "Course > Tides" not in ans.text  # the context line is not a sentence of the answer
    assert [c.n for c in ans.citations] == sorted(c.n for c in ans.citations)
    assert ans.citations[0].asset_id == p1.asset_id and ans.citations[0].location["heading_path"] == ["Doc", "S1"]
    for c in ans.citations:
        assert f"[{c.n}]" in ans.text


def test_extractive_answer_refuses_when_no_sentence_matches() -> None:
    p = passage("Basalt lava filled the ancient basins of the Moon.", 1)
    q = "Who won the football world cup?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], [p], bag_embed, max_sentences=3, min_score=0.3, rrf_k=60)
    assert ans.refused and ans.text == domain.REFUSAL and ans.citations == []


def test_llm_answer_keeps_only_sources_it_cites_and_refuses_uncited_or_not_covered() -> None:
    # (the sources hold the answer's words: the output guard refuses answers they do not support)
    ps = [passage("First fact.", 1), passage("B.", 2), passage("Third fact.", 3)]
    ans = domain.grounded_llm_answer("First [1]. Third [3, 1]. Bogus [9].", ps, "groq:m", 60)
    assert not ans.refused and [c.n for c in ans.citations] == [1, 3]
    assert domain.grounded_llm_answer("NOT_COVERED", ps, "groq:m", 60).refused
    assert domain.grounded_llm_answer("An answer with no sources.", ps, "groq:m", 60).refused
    assert domain.grounded_llm_answer("Only a bad number [7].", ps, "groq:m", 60).refused


def test_passage_score_is_scaled_to_one_for_first_in_both_rankings() -> None:
    p = passage("x", fused=2 / 61)
    assert domain.passage_score(p, 60) == 1.0


def test_location_comes_from_flat_or_nested_metadata() -> None:
    p = passage("x")
    p.metadata = {"page": 4, "context": "c", "noise": 1}
    assert p.location == {"page": 4}
    p.metadata = {"location": {"start": "00:01:00.000", "end": "00:01:30.000"}}
    assert p.location == {"start": "00:01:00.000", "end": "00:01:30.000"}
