"""The eval's pooled table and paired bootstrap comparison (bench/eval_assistant.py): no database."""

from __future__ import annotations

import pytest

from bench.eval_assistant import ModeScore, comparison_markdown, paired_bootstrap, per_question


def test_per_question_scores_follow_the_first_gold_rank() -> None:
    ranks = [1, 3, None, 11, 5]
    assert per_question(ranks, "mrr@10") == pytest.approx([1.0, 1 / 3, 0.0, 0.0, 0.2])
    assert per_question(ranks, "recall@5") == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert per_question(ranks, "recall@1") == [1.0, 0.0, 0.0, 0.0, 0.0]
    # the same figures the set's table reports
    s = ModeScore("x", ranks=ranks)
    assert sum(per_question(ranks, "mrr@10")) / len(ranks) == pytest.approx(s.mrr)
    assert sum(per_question(ranks, "recall@5")) / len(ranks) == pytest.approx(s.recall(5))


def test_identical_rankings_differ_by_nothing() -> None:
    scores = [1.0, 0.5, 0.0, 0.25] * 5
    p = paired_bootstrap(scores, scores)
    assert (p.n, p.diff, p.low, p.high, p.better, p.worse) == (20, 0.0, 0.0, 0.0, 0, 0)


def test_a_clear_gain_excludes_zero_and_a_balanced_one_does_not() -> None:
    base = [0.0] * 20
    clear = [1.0] * 12 + [0.0] * 6 + [-1.0] * 2  # 12 questions better, 2 worse
    p = paired_bootstrap(clear, base)
    assert p.diff == pytest.approx(0.5)
    assert 0.0 < p.low < 0.5 < p.high <= 1.0
    assert (p.better, p.worse) == (12, 2)
    balanced = [1.0] * 6 + [0.0] * 8 + [-1.0] * 6
    q = paired_bootstrap(balanced, base)
    assert q.diff == 0.0 and q.low < 0.0 < q.high
    assert (q.better, q.worse) == (6, 6)


def test_the_interval_is_reproducible_and_pairs_must_match() -> None:
    a = [1.0, 0.0, 0.5, 1.0, 0.2, 0.0, 1.0]
    b = [0.0, 0.0, 1.0, 1.0, 0.5, 0.2, 0.0]
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    with pytest.raises(ValueError):
        paired_bootstrap(a, b[:-1])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def _docs_result(name: str, ranks: dict[str, list[int | None]]) -> dict[str, object]:
    return {"set": name, "kind": "docs",
            "retrieval": [{"mode": m, "ranks": r} for m, r in ranks.items()]}


def test_the_pooled_table_counts_every_question_once() -> None:
    one = _docs_result("one", {"hybrid": [1, 1, 2], "vector": [1, None, 2], "text": [3, 3, 3], "bm25": [2, 2, 2]})
    two = _docs_result("two", {"hybrid": [None], "vector": [1], "text": [1], "bm25": [None]})
    disfl = {"set": "disfl_qa", "kind": "disfl_qa", "retrieval": [{"mode": "hybrid", "ranks": [1] * 50}]}
    lines = comparison_markdown([disfl, one, two])
    text = "\n".join(lines)
    assert "(2 sets, 4 questions)" in text
    hybrid_row = next(line for line in lines if line.startswith("| hybrid"))
    # recall@1 2/4, recall@5 3/4, recall@10 3/4, MRR (1 + 1 + 0.5 + 0) / 4
    assert hybrid_row.split(" | ")[1:] == ["0.500", "0.750", "0.750", "0.625 |"]
    together = next(line for line in lines if line.startswith("| all together"))
    assert together.split(" | ")[1] == "4"
    # hybrid - vector MRR: +0, +1, +0, -1 -> mean 0, one better and one worse
    assert together.split(" | ")[2].startswith("+0.000 [") and together.split(" | ")[2].endswith(", 1 / 1")
    assert comparison_markdown([disfl]) == []
