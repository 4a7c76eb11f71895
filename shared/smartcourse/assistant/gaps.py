"""Content gaps on the AI side, the rules (no I/O): which learner question is a gap, when it joins a
cluster, and when a re-asked cluster counts as covered.

A question is a **gap** when the live material did not hold enough evidence for it (the evidence
test failed, or the model said it is not covered): `not_covered`; or when it was answered with
**weak** support: the evidence score (`domain.assess_evidence`) reached `min_evidence` by less than
`WEAK_MARGIN`. Gap questions are clustered incrementally by meaning: a question joins the open
cluster of its course whose centroid (the sum of its questions' embeddings) is nearest, when the
cosine similarity reaches `CLUSTER_COSINE`; otherwise it starts a new cluster. What an instructor
sees of a cluster (at least 3 learners, scrubbed examples) is `smartcourse.analytics.gaps`.
docs/analytics.md ("Content gaps") gives the numbers the constants were set on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from smartcourse.assistant.domain import REASON_INDEXING, REASON_NOT_COVERED, Evidence

GapKind = Literal["not_covered", "weak"]

#: An answered question whose evidence score is below min_evidence + WEAK_MARGIN is weakly supported.
#: 0.06 over MIN_EVIDENCE (0.52): 0.58, inside the band where the documentation dev sets had both
#: answerable questions (lowest 0.47-0.61) and off-topic ones (highest 0.50-0.62, docs/assistant.md).
WEAK_MARGIN = 0.06
#: A gap question joins the nearest open cluster when its cosine similarity to the cluster's centroid
#: is at least this. Set on 24 paraphrases of 6 questions with the product's MiniLM embeddings:
#: a question to its paraphrases' centroid median 0.87, 23 of 24 >= 0.60 (lowest 0.51, a one-line
#: "I want a refund, how?"); a question to another topic's centroid at most 0.48.
CLUSTER_COSINE = 0.60
#: Questions of a cluster re-asked when a new version goes live (the nearest its centroid).
RECHECK_QUESTIONS = 3
#: Open clusters re-checked per course and version switch, most asked first (bounds the work done in
#: the publish transaction).
RECHECK_MAX_CLUSTERS = 200


def weak_below(min_evidence: float) -> float:
    return round(min_evidence + WEAK_MARGIN, 6)  # 0.52 + 0.06 is 0.5800000000000001 in floats


def gap_kind(evidence: Evidence | None, *, refused: bool, reason: str | None, min_evidence: float) -> GapKind | None:
    """What kind of gap a question is, or None. `evidence` None: nothing was retrieved (nothing
    live), no judgement. A "not covered" refusal shown as `indexing` (a newer version is being
    prepared) is judged on the live version as well. A refusal for another reason (the output guard)
    is no gap: the evidence said the material covers it."""
    if evidence is None:
        return None
    if not evidence.sufficient or (refused and reason in (REASON_NOT_COVERED, REASON_INDEXING)):
        return "not_covered"
    if refused:
        return None
    return "weak" if evidence.score < weak_below(min_evidence) else None


def covered_now(evidence: Evidence, min_evidence: float) -> bool:
    """A re-asked question is covered by the new live version when it would be answered with more
    than weak support (no answer is generated: the evidence test alone)."""
    return gap_kind(evidence, refused=False, reason=None, min_evidence=min_evidence) is None


def cluster_covered(results: Sequence[bool]) -> bool:
    """A cluster is covered when more than half of its re-asked questions are (2 of 3)."""
    return bool(results) and sum(results) * 2 > len(results)


def joins(similarity: float | None) -> bool:
    """Whether a gap question joins the nearest open cluster (None: the course has none)."""
    return similarity is not None and similarity >= CLUSTER_COSINE


def cluster(vectors: Sequence[Sequence[float]]) -> list[int]:
    """The store's clustering rule applied in memory, one question at a time in the order given
    (`gap_store.record_question` does the same in SQL): each vector joins the open cluster whose
    centroid (the sum of its members) is nearest by cosine when `joins`, else starts a new one.
    The cluster index of each vector; for tests and for setting `CLUSTER_COSINE`."""
    sums: list[list[float]] = []
    out: list[int] = []
    for v in vectors:
        best, best_sim = -1, None
        for i, c in enumerate(sums):
            sim = _cosine(v, c)
            if best_sim is None or sim > best_sim:
                best, best_sim = i, sim
        if joins(best_sim):
            sums[best] = [a + b for a, b in zip(sums[best], v, strict=True)]
            out.append(best)
        else:
            sums.append([float(x) for x in v])
            out.append(len(sums) - 1)
    return out


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = sum(x * x for x in a) ** 0.5, sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0
