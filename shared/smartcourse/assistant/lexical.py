"""BM25 over a course's live chunks: the rules, free of I/O (the SQL is in retrieval.py).

A chunk's tsvector holds its context line (document title > heading path) with weight A and its
body with weight D. For each lexeme of the question present in the course (document frequency
``df`` among the course's ``n`` live chunks, kept in ai.course_terms):

    idf(t)     = ln(1 + (n - df + 0.5) / (df + 0.5))                       (BM25, never negative)
    score(c)   = sum over t of idf(t) * (body(t, c) + context_weight * [t in c's context])   (weight 0 by default)
    body(t, c) = tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(c) / avg_len))   tf = t's occurrences in c's body

``len`` is the chunk's number of distinct lexemes. ``tf`` is read from the tsvector's positions
through ts_rank (retrieval.py says how): one binary search per lexeme, as a presence test costs.
Until 2026-12-06 tf was taken as presence (1 whenever the lexeme occurs), on the reasoning that
chunks of at most 256 tokens repeat little; measured on the five documentation dev sets, the
lexical ranking alone then had MRR@10 0.30-0.61 against 0.37-0.66 with the counts (every set
lower), docs/evaluation.md.

Candidates are the chunks whose body holds one of the question's rarer lexemes (found through a
GIN index of the body alone, migration 0098; a lexeme only in the context line makes no
candidate): lexemes are taken by increasing df while their summed df stays within
``candidate_budget``. When even the rarest lexeme is more common than that, the candidates are the
chunks holding the two rarest together (a chunk with both outscores one with either). Either way
at most ``candidate_budget`` chunks are scored (the SQL stops reading there), which bounds the
work per question whatever the course size; a chunk that holds only the question's most common
lexemes is left to the vector side.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

#: pi^2 / 6, the sum of 1/j^2 over j >= 1 (PostgreSQL's ts_rank divides by it).
ZETA2 = 1.64493406685


@dataclass(frozen=True)
class Bm25Params:
    k1: float = 1.2
    b: float = 0.75
    #: 0 scores the body alone: on the dev sets counting the context line (repeated in every chunk
    #: of a page, and already in the embedded text) at 0.5 or 1 lowered page-level MRR on 4 of 6 sets.
    context_weight: float = 0.0
    candidate_budget: int = 1000
    #: Lexemes scored per question (the rarest): a 1,000-character question holds about 100, and
    #: each costs two tsquery tests per candidate.
    max_terms: int = 32
    #: The candidates' GIN index scan is given the course id as a key of its own unless the course
    #: holds at least this share of every indexed chunk (`uses_course_key`).
    course_key_max_share: float = 0.5


@dataclass(frozen=True)
class QueryTerm:
    lexeme: str
    df: int
    idf: float


@dataclass(frozen=True)
class LexicalPlan:
    terms: tuple[QueryTerm, ...]       # every question lexeme the course has, scored
    candidates: tuple[QueryTerm, ...]  # the lexemes whose chunks are candidates
    all_of: bool = False               # candidates hold every one of them (else any)

    @property
    def empty(self) -> bool:
        return not self.candidates

    def tsquery(self) -> str:
        """The candidates' tsquery: any of the lexemes, or all of them (matched against the body's
        own tsvector, `ai.chunk_bodies.body`, so no weight is needed)."""
        return (" & " if self.all_of else " | ").join(tsquery_term(t.lexeme) for t in self.candidates)


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def plan(lexemes: Iterable[tuple[str, int]], n: int, budget: int, max_terms: int = 32) -> LexicalPlan:
    """The scored terms (the ``max_terms`` rarest) and candidate lexemes for a question's
    (lexeme, df) pairs in a course of ``n`` live chunks."""
    present = (t for t in question_terms(lexemes, n) if t.df > 0)
    terms = tuple(sorted(present, key=lambda t: (t.df, t.lexeme))[:max_terms])
    if terms and terms[0].df > budget:
        return LexicalPlan(terms, terms[:2], all_of=True)
    chosen: list[QueryTerm] = []
    total = 0
    for term in terms:
        if total + term.df > budget:
            break
        chosen.append(term)
        total += term.df
    return LexicalPlan(terms, tuple(chosen))


def uses_course_key(course_chunks: int, indexed_chunks: float, max_share: float) -> bool:
    """Whether the candidates' GIN index scan should read the course id's entry.

    The index is on (course id, body lexemes), and its lexeme entries span every course: the
    course's entry only intersects them, and it lists every chunk of the course. For a course that
    is a small part of the index it keeps the other courses' chunks off the heap; for one that is
    most of it, it is a list as long as the course to read for nothing (1M chunks in one course:
    about 300 index pages, BM25 statement p50 / p95 7.2 / 15.4 -> 4.1 / 9.3 ms without it,
    docs/assistant.md). Then the course id is tested on the rows instead. `indexed_chunks` is
    PostgreSQL's estimate of the table's rows (unknown, <= 0, keeps the key)."""
    return indexed_chunks <= 0 or course_chunks < max_share * indexed_chunks


def question_terms(lexemes: Iterable[tuple[str, int]], n: int) -> tuple[QueryTerm, ...]:
    """Every lexeme of the question with its idf in the course; a lexeme the course does not
    have gets the highest idf (df 0): for the evidence test, its absence is what says most."""
    return tuple(QueryTerm(lex, df, idf(df, n)) for lex, df in lexemes if n > 0)


def weighted_coverage(terms: Sequence[QueryTerm], matched: Collection[str]) -> float:
    """The idf-weighted share of the question's terms that a passage holds (0 without terms)."""
    total = sum(t.idf for t in terms)
    return sum(t.idf for t in terms if t.lexeme in matched) / total if total > 0 else 0.0


def tsquery_term(lexeme: str, weight: str = "") -> str:
    """A lexeme as a tsquery operand (quoted, so nothing in it is read as an operator)."""
    quoted = "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:{weight}" if weight else quoted
