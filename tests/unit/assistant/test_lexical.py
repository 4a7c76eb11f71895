"""BM25 rules: idf, the candidate plan and tsquery quoting (no database)."""

from __future__ import annotations

import math

from smartcourse.assistant import lexical


def test_idf_is_higher_for_rarer_terms_and_never_negative() -> None:
    n = 1000
    assert lexical.idf(1, n) > lexical.idf(10, n) > lexical.idf(500, n) > lexical.idf(1000, n) > 0
    assert math.isclose(lexical.idf(1, n), math.log(1 + 999.5 / 1.5))


def test_plan_takes_the_rarest_lexemes_within_the_budget_and_scores_every_present_one() -> None:
    # Given a question's lexemes with their document frequencies in a course of 10,000 chunks
    pairs = [("model", 4000), ("charfield", 40), ("null", 900), ("absent", 0), ("blank", 300)]
    # When a plan is made with a budget of 1,000 candidate postings
    plan = lexical.plan(pairs, 10_000, 1000)
    # Then every lexeme the course holds is scored, rarest first, and the absent one is dropped
    assert [t.lexeme for t in plan.terms] == ["charfield", "blank", "null", "model"]
    # and candidates are the rare ones whose summed df fits the budget (40 + 300 <= 1000 < 40 + 300 + 900)
    assert [t.lexeme for t in plan.candidates] == ["charfield", "blank"]


def test_plan_takes_the_two_rarest_together_when_even_the_rarest_is_over_budget() -> None:
    plan = lexical.plan([("python", 9000), ("use", 9500), ("code", 9900)], 10_000, 100)
    assert [t.lexeme for t in plan.candidates] == ["python", "use"] and plan.all_of
    assert plan.tsquery() == "'python' & 'use'"
    single = lexical.plan([("python", 9000)], 10_000, 100)
    assert [t.lexeme for t in single.candidates] == ["python"] and single.tsquery() == "'python'"
    within = lexical.plan([("a", 10), ("b", 20)], 10_000, 100)
    assert not within.all_of and within.tsquery() == "'a' | 'b'"


def test_plan_is_empty_without_known_lexemes_or_chunks() -> None:
    assert lexical.plan([("zyx", 0)], 100, 100).empty
    assert lexical.plan([("model", 3)], 0, 100).empty
    assert lexical.plan([], 100, 100).empty


def test_tsquery_terms_are_quoted() -> None:
    assert lexical.tsquery_term("o'reilly") == "'o''reilly'"
    assert lexical.tsquery_term("a\\b", "A") == "'a\\\\b':A"
    assert lexical.plan([("x|y", 1), ("!z", 2)], 10, 10).tsquery() == "'x|y' | '!z'"


def test_plan_scores_at_most_max_terms_of_the_rarest_lexemes() -> None:
    pairs = [(f"w{i:03d}", i + 1) for i in range(100)]  # w000 rarest
    plan = lexical.plan(pairs, 10_000, 1000, max_terms=32)
    assert len(plan.terms) == 32 and plan.terms[0].lexeme == "w000" and plan.terms[-1].lexeme == "w031"


def test_the_course_key_is_read_unless_the_course_is_most_of_the_index() -> None:
    # a course that is a small part of the indexed chunks: its GIN entry narrows the candidates
    assert lexical.uses_course_key(1_000, 1_000_000, 0.5)
    assert lexical.uses_course_key(499_999, 1_000_000, 0.5)
    # a course holding half of them or more: the entry lists the whole course for nothing
    assert not lexical.uses_course_key(500_000, 1_000_000, 0.5)
    assert not lexical.uses_course_key(1_000_000, 1_000_000, 0.5)
    # the table's size unknown (never analysed: PostgreSQL says -1): keep the key
    assert lexical.uses_course_key(1_000, -1, 0.5) and lexical.uses_course_key(1_000, 0, 0.5)
