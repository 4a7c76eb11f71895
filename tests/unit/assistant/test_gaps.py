"""Content gaps on the AI side: what a gap is, the clustering rule and its threshold on real
paraphrases (the product's MiniLM embeddings), and when a re-asked cluster is covered."""

from __future__ import annotations

import pytest

from smartcourse.assistant import gaps
from smartcourse.assistant.domain import Evidence

MIN = 0.52


def evidence(score: float) -> Evidence:
    return Evidence(best_similarity=score, best_coverage=0.0, strict_match=False, sufficient=score >= MIN,
                    score=score)


@pytest.mark.parametrize(("score", "refused", "reason", "kind"), [
    (0.40, True, "not_covered", "not_covered"),       # the evidence test refused
    (0.40, True, "indexing", "not_covered"),          # the same, shown as "a newer version is coming"
    (0.70, True, "not_covered", "not_covered"),       # the model said NOT_COVERED
    (0.70, True, "unsupported_answer", None),         # the guard refused: the material does cover it
    (0.55, False, None, "weak"),                      # answered, 0.03 over the line
    (0.5799, False, None, "weak"),
    (0.58, False, None, None),                        # MIN_EVIDENCE + WEAK_MARGIN: supported
    (0.90, False, None, None),
])
def test_gap_kind(score: float, refused: bool, reason: str | None, kind: str | None) -> None:
    assert gaps.gap_kind(evidence(score), refused=refused, reason=reason, min_evidence=MIN) == kind


def test_nothing_retrieved_is_no_judgement() -> None:
    assert gaps.gap_kind(None, refused=True, reason="indexing", min_evidence=MIN) is None


def test_a_re_asked_question_is_covered_above_weak_support_and_a_cluster_by_majority() -> None:
    assert gaps.covered_now(evidence(0.60), MIN) and not gaps.covered_now(evidence(0.55), MIN)
    assert not gaps.covered_now(evidence(0.30), MIN)
    assert gaps.cluster_covered([True, True, False]) and gaps.cluster_covered([True])
    assert not gaps.cluster_covered([True, False]) and not gaps.cluster_covered([True, False, False])
    assert not gaps.cluster_covered([])


def test_joining_needs_the_threshold() -> None:
    assert gaps.joins(gaps.CLUSTER_COSINE) and gaps.joins(0.9)
    assert not gaps.joins(gaps.CLUSTER_COSINE - 0.01) and not gaps.joins(None)


def test_incremental_clustering_on_synthetic_vectors() -> None:
    # two directions; members within ~0.9 of their own axis, ~0.1 of the other
    a1, a2, b1, a3, b2 = [1, 0.1, 0], [0.95, 0.2, 0.1], [0.1, 1, 0], [0.9, 0, 0.3], [0, 0.9, 0.2]
    assert gaps.cluster([a1, a2, b1, a3, b2]) == [0, 0, 1, 0, 1]
    assert gaps.cluster([[1, 0], [0, 1], [-1, 0]]) == [0, 1, 2]  # unrelated questions stay apart
    assert gaps.cluster([]) == []


PARAPHRASES = {
    "library": ["When is the campus library open on Sundays?", "What are the library opening hours on Sunday?",
                "Is the library open on the weekend?", "Can I go to the library on Sunday, what time does it open?"],
    "exam": ["When is the final exam?", "What date is the final exam scheduled for?",
             "When do we take the final test?", "Is there a date for the end of course exam?"],
    "tides": ["Why does the Moon cause tides?", "How does the moon create ocean tides?",
              "What makes tides happen because of the moon?", "Explain the moon's effect on tides"],
    "phobos": ["How big is Phobos?", "What is the size of Phobos?", "What is Phobos's diameter?",
               "How large is the moon Phobos?"],
}


@pytest.mark.slow
def test_the_threshold_groups_real_paraphrases_and_keeps_topics_apart() -> None:
    from smartcourse.ai.embeddings import MiniLMEmbedder

    questions = [(topic, q) for i in range(4) for topic, qs in PARAPHRASES.items() for q in [qs[i]]]  # interleaved
    vectors = MiniLMEmbedder().embed([q for _, q in questions])
    labels = gaps.cluster([list(map(float, v)) for v in vectors])
    by_topic: dict[str, set[int]] = {}
    for (topic, _), label in zip(questions, labels, strict=True):
        by_topic.setdefault(topic, set()).add(label)
    assert all(len(found) == 1 for found in by_topic.values()), by_topic   # each topic one cluster
    assert len(set(labels)) == len(PARAPHRASES)                             # and no two topics merged
