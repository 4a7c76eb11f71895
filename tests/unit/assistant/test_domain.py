"""The assistant's pure rules: fusion, near duplicates, evidence, extractive answers, citations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pytest

from smartcourse.assistant import domain, lexical
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
            fused: float = 0.01, lexemes: set[str] | None = None) -> Passage:
    vec = bag_embed([text])[0]
    full = f"{context}\n\n{text}" if context else text
    return Passage(chunk_id=n, asset_id=uuid.uuid4(), chunk_set_id=uuid.uuid4(), ordinal=n, title="Doc",
                   text=full, metadata={"heading_path": ["Doc", f"S{n}"], "context": context},
                   similarity=similarity if similarity is not None else 0.5, fused=fused, embedding=vec,
                   lexemes=frozenset(lexemes or ()))


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    scores = domain.reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert domain.page_boosted_order(scores, {d: d for d in scores}, 0.5) == [1, 3, 2, 4]  # one chunk per page
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[4] == pytest.approx(1 / 63)


def test_a_page_matching_in_two_places_outranks_a_single_stray_match() -> None:
    # chunks 1 and 2 belong to page A, chunk 3 to page B; 3 alone scores a little above 1
    scores = {1: 0.030, 2: 0.020, 3: 0.032}
    pages = {1: "A", 2: "A", 3: "B"}
    assert domain.page_boosted_order(scores, pages, 0.0) == [3, 1, 2]
    # with the boost, A's best chunk (0.030 + 0.5 * 0.020) passes B's, and so does A's other one
    # (0.020 + 0.5 * 0.030): the page's chunks come first, its best before its other
    assert domain.page_boosted_order(scores, pages, 0.5) == [1, 2, 3]
    # a page's best chunk always precedes its others
    many = {1: 0.01, 2: 0.011, 3: 0.012, 4: 0.05}
    order = domain.page_boosted_order(many, {1: "A", 2: "A", 3: "A", 4: "B"}, 0.9)
    assert order.index(3) < order.index(2) < order.index(1)


def test_near_duplicates_are_removed_keeping_the_first() -> None:
    a = passage("The Moon orbits the Earth every 27.3 days.", 1)
    same_text = passage("the moon orbits the earth every 27.3 days", 2)
    other = passage("Tides are raised by the Moon's gravity.", 3)
    kept = domain.remove_near_duplicates([a, same_text, other], threshold=0.97)
    assert [p.chunk_id for p in kept] == [1, 3]
    close = passage("The Moon orbits the Earth every 27.3 days!", 4)  # same bag of terms -> cosine 1
    assert [p.chunk_id for p in domain.remove_near_duplicates([a, close], 0.97)] == [1]
    # with a limit: the first ones kept, duplicates still skipped on the way
    assert [p.chunk_id for p in domain.remove_near_duplicates([a, same_text, other, close], 0.97, limit=2)] == \
        [a.chunk_id, other.chunk_id]
    assert [p.chunk_id for p in domain.remove_near_duplicates([a, same_text, other], 0.97, limit=1)] == [a.chunk_id]


EVIDENCE = {"coverage_weight": 0.5, "threshold": 0.52}


def terms(*pairs: tuple[str, int], n: int = 100) -> tuple[lexical.QueryTerm, ...]:
    return lexical.question_terms(pairs, n)


def test_evidence_is_similarity_plus_weighted_idf_coverage_of_the_best_passage() -> None:
    # Given "sidereal month length" in a course where "month" is common and "sidereal" rare
    q = terms(("sidereal", 2), ("month", 40), ("length", 10))
    holding = {"sidereal", "month", "length"}
    # a passage fairly close to the question that holds its lexemes is enough (0.4 + 0.5 x 1.0)
    ev = domain.assess_evidence([passage("x", similarity=0.4, lexemes=holding)], q, **EVIDENCE)
    assert ev.sufficient and ev.score == pytest.approx(0.9) and ev.best_coverage == pytest.approx(1.0)
    # the same closeness holding only the common lexeme is not (idf-weighted coverage is low)
    ev = domain.assess_evidence([passage("x", similarity=0.4, lexemes={"month"})], q, **EVIDENCE)
    assert not ev.sufficient and ev.best_coverage < 0.2
    # very close alone is enough; far with every lexeme is enough; far with few is not
    assert domain.assess_evidence([passage("x", similarity=0.6)], q, **EVIDENCE).sufficient
    assert domain.assess_evidence([passage("x", similarity=0.1, lexemes=holding)], q, **EVIDENCE).sufficient
    assert not domain.assess_evidence([passage("x", similarity=0.3, lexemes={"month"})], q, **EVIDENCE).sufficient
    # the score is the best passage's, not the best similarity of one plus the coverage of another
    split = [passage("x", 1, similarity=0.45), passage("y", 2, similarity=0.0, lexemes={"sidereal", "length"})]
    ev = domain.assess_evidence(split, q, **EVIDENCE)
    assert ev.score == pytest.approx(0.45) and not ev.sufficient
    assert ev.best_similarity + 0.5 * ev.best_coverage > 0.52
    # a lexeme the course does not have weighs most: its absence sinks the coverage
    q2 = terms(("campus", 0), ("library", 40), ("open", 30))
    assert not domain.assess_evidence([passage("x", similarity=0.36, lexemes={"library", "open"})], q2,
                                      **EVIDENCE).sufficient
    # no content lexemes: similarity alone; no passages: nothing
    assert domain.assess_evidence([passage("x", similarity=0.53)], (), **EVIDENCE).sufficient
    assert not domain.assess_evidence([passage("x", similarity=0.5)], (), **EVIDENCE).sufficient
    assert not domain.assess_evidence([], q, **EVIDENCE).sufficient


def test_extractive_answer_picks_the_matching_sentences_in_order_and_cites_them() -> None:
    p1 = passage("Tides come twice a day. The Moon raises tidal bulges in the oceans. Crabs like beaches.", 1,
                 context="Course > Tides")
    p2 = passage("Spring tides happen when the Sun and Moon align. Neap tides are weaker.", 2)
    q = "What raises tidal bulges in the oceans?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], [p1, p2], bag_embed, max_sentences=3, rrf_k=60)
    assert not ans.refused and ans.model == "extractive"
    assert ans.text.startswith("The Moon raises tidal bulges in the oceans. [1]")
    assert "Course > Tides" not in ans.text  # the context line is not a sentence of the answer
    assert [c.n for c in ans.citations] == sorted(c.n for c in ans.citations)
    assert ans.citations[0].asset_id == p1.asset_id and ans.citations[0].location["heading_path"] == ["Doc", "S1"]
    for c in ans.citations:
        assert f"[{c.n}]" in ans.text


def test_extractive_answer_embeds_only_the_first_pass_best_sentences_of_the_best_passages() -> None:
    # Given five passages of four sentences each
    ps = [passage(" ".join(f"Sentence {i} {j} about tides and moons." for j in range(4)), i) for i in range(5)]
    seen: list[str] = []

    def counting_embed(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        return bag_embed(texts)

    q = "What about tides?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], ps, counting_embed, max_sentences=3, rrf_k=60)
    # Then at most EMBEDDED_SENTENCES sentences are embedded, all from the first passages read
    assert 0 < len(seen) <= domain.EMBEDDED_SENTENCES
    assert all(int(s.split()[1]) < domain.EXTRACT_FROM_PASSAGES for s in seen)
    assert not ans.refused and ans.citations


def test_extractive_answer_quotes_a_passage_without_sentences() -> None:
    # Given a best passage that is code only (no sentence of four words)
    code = passage("x = 1\ny = 2", 1)
    q = "How do I set x?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], [code], bag_embed, max_sentences=3, rrf_k=60)
    # Then it is quoted and cited rather than refused (the evidence test judged it relevant)
    assert not ans.refused and ans.text.startswith("x = 1") and ans.text.endswith("[1]")
    assert [c.n for c in ans.citations] == [1]


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


def test_extractive_answer_reads_the_best_passage_of_each_page_first() -> None:
    # Given passages ranked A1, A2, A3, B1: the answer reads A1, B1 and A2 (not A1-A3)
    page_a, page_b = uuid.uuid4(), uuid.uuid4()
    texts = ["Alpha one says tides rise.", "Alpha two says tides rise.", "Alpha three says tides rise.",
             "Beta one says tides rise."]
    ps = [passage(t, i) for i, t in enumerate(texts)]
    for p, asset in zip(ps, [page_a, page_a, page_a, page_b], strict=True):
        p.asset_id = asset
    read = {s.text.split()[0] + " " + s.text.split()[1]
            for s in domain.score_sentences("tides", bag_embed(["tides"])[0], ps, bag_embed, from_passages=3)}
    assert read == {"Alpha one", "Alpha two", "Beta one"}


def test_extractive_answer_quotes_at_most_two_sentences_of_one_passage() -> None:
    # Given a best passage with three sentences on the question and a second passage with one
    p1 = passage("Tides rise with the Moon. Tides rise twice daily. Tides rise on coasts.", 1)
    p2 = passage("Tides rise higher at spring tide.", 2)
    q = "When do tides rise?"
    ans = domain.extractive_answer(q, bag_embed([q])[0], [p1, p2], bag_embed, max_sentences=3, rrf_k=60)
    # Then the answer quotes two sentences of the first and the sentence of the second, both cited
    assert ans.text.count("[1]") == domain.SENTENCES_PER_PASSAGE == 2
    assert ans.text.endswith("Tides rise higher at spring tide. [2]")
    assert [c.n for c in ans.citations] == [1, 2]


def test_search_lists_text_matches_and_vector_matches_down_to_the_similarity_floor() -> None:
    found_by_text = passage("alpha", 1, similarity=0.05)
    found_by_text.text_rank = 3
    close = passage("beta", 2, similarity=domain.SEARCH_MIN_SIMILARITY)
    far = passage("gamma", 3, similarity=domain.SEARCH_MIN_SIMILARITY - 0.01)
    listed = domain.search_results([far, found_by_text, close])
    assert [p.chunk_id for p in listed] == [1, 2]  # order kept, the far vector-only passage dropped
