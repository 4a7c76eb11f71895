"""The eval's pooled table and paired bootstrap comparison (bench/eval_assistant.py): no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.eval_assistant import ModeScore, compare_markdown, comparison_markdown, main, paired_bootstrap, per_question


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


def _docs_result(name: str, ranks: dict[str, list[int | None]], cited: list[bool] | None = None,
                 refused: float = 0.0) -> dict[str, object]:
    n = len(ranks["hybrid"])
    return {"set": name, "kind": "docs", "questions": n,
            "retrieval": [{"mode": m, "ranks": r} for m, r in ranks.items()],
            "answers": {"by_question": cited if cited is not None else [False] * n, "refused": refused}}


def test_the_pooled_table_counts_every_question_once() -> None:
    one = _docs_result("one", {"hybrid": [1, 1, 2], "vector": [1, None, 2], "text": [3, 3, 3], "bm25": [2, 2, 2]},
                       [True, True, False], refused=1 / 3)
    two = _docs_result("two", {"hybrid": [None], "vector": [1], "text": [1], "bm25": [None]}, [True])
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
    assert "a gold page cited by 0.750, answerable questions refused 0.250" in text
    assert comparison_markdown([disfl]) == []


def _modes(hybrid: list[int | None]) -> dict[str, list[int | None]]:
    return {"hybrid": hybrid, "vector": hybrid, "text": hybrid, "bm25": hybrid}


def test_two_runs_are_compared_question_by_question() -> None:
    before = [_docs_result("one", _modes([1, 2, None, 4]), [True, False, False, True]),
              _docs_result("two", _modes([1, 1]), [True, True]),
              _docs_result("gone", _modes([1]), [True])]
    after = [_docs_result("one", _modes([1, 1, 3, None]), [True, True, True, True]),
             _docs_result("two", _modes([1, 1]), [True, True]),
             _docs_result("new", _modes([1]), [True])]
    lines = compare_markdown(before, after)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines[2:]}
    assert set(rows) == {"one", "two", "documentation sets together"}
    # one: reciprocal ranks 1, 1/2, 0, 1/4 -> 1, 1, 1/3, 0: +0, +1/2, +1/3, -1/4 -> mean 7/48
    assert rows["one"][2].startswith("+0.146 [") and rows["one"][2].endswith(", 2 / 1")
    assert rows["one"][3].startswith("+0.000 [") and rows["one"][3].endswith(", 1 / 1")  # recall@5
    assert rows["one"][4].startswith("+0.500 [") and rows["one"][4].endswith(", 2 / 0 |")
    assert rows["two"][2] == "+0.000 [+0.000, +0.000], 0 / 0"
    assert rows["documentation sets together"][1] == "6"
    with pytest.raises(ValueError):
        compare_markdown(before, [_docs_result("one", _modes([1]), [True])])
    with pytest.raises(ValueError):
        compare_markdown(before, [_docs_result("other", _modes([1]), [True])])
    rebuilt = _docs_result("two", _modes([1, 1]), [True, True])
    rebuilt["question_ids"] = ["two-001", "two-009"]
    with pytest.raises(ValueError, match="not the same questions"):
        compare_markdown(before, [rebuilt])
    old_run = {"set": "two", "kind": "docs", "retrieval": [{"mode": "hybrid", "recall@5": 1.0}], "answers": {}}
    with pytest.raises(ValueError, match="no per-question results"):
        compare_markdown([old_run], after)


def test_the_compare_command_reads_two_json_runs_and_needs_no_database(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps([_docs_result("one", _modes([2, None]), [False, False])]))
    after.write_text(json.dumps([_docs_result("one", _modes([1, None]), [True, False])]))
    assert main(["--compare", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "| one | 2 | +0.250 [" in out and "| documentation sets together | 2 |" in out
