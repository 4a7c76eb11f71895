"""The assistant's rules, free of I/O: rank fusion, near-duplicate removal, the evidence test,
the extractive grounded answer, citation numbering and the refusal."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcourse.assistant import guard, lexical
from smartcourse.assistant import text as tx

if TYPE_CHECKING:
    from numpy.typing import NDArray

REFUSAL = ("The course materials do not cover this. Try rephrasing the question, or ask your "
           "instructor.")
# Why an answer is refused (the `reason` of every refused ask; docs/assistant.md lists them).
REASON_NOT_COVERED = "not_covered"            # the live course material does not cover the question
REASON_INDEXING = "indexing"                  # the latest published version is not live yet
REASON_NOT_PUBLISHED = "not_published"        # the course has no published version
REASON_UNSUPPORTED_ANSWER = "unsupported_answer"  # the model's answer failed the output guard
REFUSAL_INDEXING = ("The course material is still being prepared for the assistant. Try again in a "
                    "minute.")
REFUSAL_NEWER_VERSION_INDEXING = (
    "The current course materials do not cover this. A newer version of the course material is still "
    "being prepared for the assistant: try again in a minute.")
REFUSAL_NOT_PUBLISHED = "This course has no published material yet, so the assistant has nothing to answer from."
REFUSAL_TEXTS = {REASON_NOT_COVERED: REFUSAL, REASON_INDEXING: REFUSAL_INDEXING,
                 REASON_NOT_PUBLISHED: REFUSAL_NOT_PUBLISHED, REASON_UNSUPPORTED_ANSWER: REFUSAL}
EXTRACTIVE_MODEL = "extractive"
LOCATION_KEYS = ("page", "page_end", "slide", "heading_path", "start", "end", "paragraph", "paragraph_end",
                 "section", "title")

EmbedFn = Callable[[Sequence[str]], "NDArray[np.float32]"]


@dataclass
class Passage:
    """One retrieved chunk of a live chunk set of the course."""

    chunk_id: int
    asset_id: uuid.UUID
    chunk_set_id: uuid.UUID
    ordinal: int
    title: str            # the document's title
    text: str             # as embedded: context line + body
    metadata: dict[str, Any]
    similarity: float     # cosine(question, chunk), exact
    fused: float = 0.0    # reciprocal-rank fusion score
    vector_rank: int | None = None
    text_rank: int | None = None
    strict_match: bool = False  # every term of websearch_to_tsquery(question) matched
    lexemes: frozenset[str] = frozenset()  # the question's lexemes this chunk holds
    embedding: NDArray[np.float32] | None = None
    lesson_id: uuid.UUID | None = None
    lesson_title: str | None = None

    @property
    def context(self) -> str:
        return str(self.metadata.get("context") or "")

    @property
    def body(self) -> str:
        ctx = self.context
        if ctx and self.text.startswith(ctx):
            return self.text[len(ctx):].lstrip()
        return self.text

    @property
    def location(self) -> dict[str, Any]:
        loc = self.metadata.get("location")
        source = loc if isinstance(loc, dict) else self.metadata
        return {k: source[k] for k in LOCATION_KEYS if source.get(k) is not None}

    @property
    def display_title(self) -> str:
        return self.lesson_title or self.title or "Course material"


@dataclass(frozen=True)
class Citation:
    n: int
    asset_id: uuid.UUID
    lesson_id: uuid.UUID | None
    title: str
    location: dict[str, Any]
    snippet: str
    score: float
    chunk_id: int

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "asset_id": str(self.asset_id),
                "lesson_id": str(self.lesson_id) if self.lesson_id else None, "title": self.title,
                "location": self.location, "snippet": self.snippet, "score": self.score}


@dataclass(frozen=True)
class Evidence:
    best_similarity: float
    best_coverage: float
    strict_match: bool
    sufficient: bool
    score: float = 0.0  # the best passage's similarity + weight x coverage

    def as_dict(self) -> dict[str, Any]:
        return {"best_similarity": round(self.best_similarity, 4), "best_coverage": round(self.best_coverage, 4),
                "strict_match": self.strict_match, "sufficient": self.sufficient, "score": round(self.score, 4)}


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of a conversation, as the model's history sees it."""
    role: str            # user | assistant
    content: str
    refused: bool | None


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    refused: bool
    model: str
    usage: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why it was refused (REASON_*); None when answered


# --------------------------------------------------------------------------- retrieval rules

def reciprocal_rank_fusion(rankings: Iterable[Sequence[int]], k: int = 60) -> dict[int, float]:
    """score(d) = sum over rankings of 1 / (k + rank(d)), ranks from 1."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores


def page_boosted_order(scores: dict[int, float], page_of: dict[int, Any], beta: float) -> list[int]:
    """Chunks ordered by their fused score plus `beta` times the best score among the OTHER
    chunks of the same page (asset): a page that matches in two places outranks a page with
    one stray match of the same strength, and a page's best chunk still comes before its others
    (for beta < 1). On the documentation dev sets this moved the right page up (docs/evaluation.md)."""
    best: dict[Any, list[float]] = {}
    for doc, score in scores.items():
        top = best.setdefault(page_of[doc], [0.0, 0.0])
        if score > top[0]:
            top[0], top[1] = score, top[0]
        elif score > top[1]:
            top[1] = score

    def boosted(doc: int) -> float:
        first, second = best[page_of[doc]]
        return scores[doc] + beta * (second if scores[doc] >= first else first)

    return sorted(scores, key=lambda d: (-boosted(d), d))


#: A search lists a passage the text ranking did not find only down to this cosine similarity.
SEARCH_MIN_SIMILARITY = 0.2


def search_results(passages: Sequence[Passage]) -> list[Passage]:
    """What a course search lists of its retrieved passages (one per page, best first): those the
    text ranking found, and the others down to SEARCH_MIN_SIMILARITY. `bench.eval_assistant` ranks
    the product's pages with it, as the held-out evaluation scores the search route."""
    return [p for p in passages if p.text_rank is not None or p.similarity >= SEARCH_MIN_SIMILARITY]


def _normalised_text(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def remove_near_duplicates(passages: Sequence[Passage], threshold: float, limit: int | None = None) -> list[Passage]:
    """Keep passages in order, dropping one whose body equals or whose embedding is within
    `threshold` cosine of a passage already kept (the same text uploaded twice, overlaps); the
    first `limit` kept when given (the rest are not looked at)."""
    kept: list[Passage] = []
    seen_text: set[str] = set()
    for p in passages:
        if limit is not None and len(kept) >= limit:
            break
        norm = _normalised_text(p.body)
        if norm in seen_text:
            continue
        if p.embedding is not None and any(
            k.embedding is not None and float(np.dot(p.embedding, k.embedding)) >= threshold for k in kept
        ):
            continue
        seen_text.add(norm)
        kept.append(p)
    return kept


def assess_evidence(passages: Sequence[Passage], terms: Sequence[lexical.QueryTerm], *, coverage_weight: float,
                    threshold: float) -> Evidence:
    """Whether the passages cover the question: for the best passage, its cosine similarity to
    the question plus `coverage_weight` x its coverage (the idf-weighted share of the question's
    lexemes it holds, `lexical.weighted_coverage`; a lexeme the course does not have weighs
    most) must reach `threshold`. Similarity alone can carry a question the course words
    differently; coverage lifts a close passage that holds the question's rare words."""
    if not passages:
        return Evidence(0.0, 0.0, False, False)
    pairs = [(p.similarity, lexical.weighted_coverage(terms, p.lexemes)) for p in passages]
    score = max(sim + coverage_weight * cov for sim, cov in pairs)
    return Evidence(max(sim for sim, _ in pairs), max(cov for _, cov in pairs),
                    any(p.strict_match for p in passages), score >= threshold, score)


# --------------------------------------------------------------------------- answers

def refusal(model: str, reason: str = REASON_NOT_COVERED, *, text: str | None = None) -> Answer:
    """A refused answer: no citations, the text that says why (`REFUSAL_TEXTS`) unless `text`."""
    return Answer(text or REFUSAL_TEXTS.get(reason, REFUSAL), [], True, model, reason=reason)


def passage_score(p: Passage, k: int) -> float:
    """The fused score scaled to [0, 1] (1 = first in both rankings)."""
    return round(min(1.0, p.fused / (2.0 / (k + 1))), 4)


def citation_for(n: int, p: Passage, snippet: str, rrf_k: int) -> Citation:
    return Citation(n, p.asset_id, p.lesson_id, p.display_title, p.location, tx.shorten(snippet, 300),
                    passage_score(p, rrf_k), p.chunk_id)


@dataclass(frozen=True)
class ScoredSentence:
    passage_index: int
    position: int
    text: str
    lexical: float
    prior: float             # the passage's retrieval rank, as a weight in (0, 1]
    semantic: float | None = None

    @property
    def first_pass(self) -> float:
        return 0.6 * self.lexical + 0.4 * self.prior

    @property
    def score(self) -> float:
        semantic = self.semantic if self.semantic is not None else 0.0
        return 0.4 * self.lexical + 0.4 * semantic + 0.2 * self.prior


#: Passages the extractive answer reads (best first), and sentences it embeds to compare with
#: the question: each embedding costs ~10-20 ms on one core, so the lexical first pass picks them.
EXTRACT_FROM_PASSAGES = 6
EMBEDDED_SENTENCES = 8
#: At most this many sentences of one passage, and only sentences scoring at least this share of
#: the best one: an answer quotes more than one page when several are about as relevant.
SENTENCES_PER_PASSAGE = 2
KEEP_WITHIN = 0.7


def _rank_prior(index: int) -> float:
    return 1.0 / (1.0 + 0.5 * index)


def _reading_order(passages: Sequence[Passage], n: int) -> list[int]:
    """Indexes of the `n` passages the answer reads: the best passage of each page first (in
    rank order), then the others, so an answer can draw on more than one page when the
    best pages are close."""
    firsts: list[int] = []
    rest: list[int] = []
    seen: set[uuid.UUID] = set()
    for i, p in enumerate(passages):
        (rest if p.asset_id in seen else firsts).append(i)
        seen.add(p.asset_id)
    return sorted((firsts + rest)[:n])


def score_sentences(question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                    embed: EmbedFn, *, from_passages: int = EXTRACT_FROM_PASSAGES,
                    embedded: int = EMBEDDED_SENTENCES) -> list[ScoredSentence]:
    """The sentences of the best passages' bodies, scored against the question: lexical = the
    IDF-weighted share of the question's terms it contains; prior = the passage's rank; the
    `embedded` best by those two get semantic = cosine similarity to the question. Sorted by
    `score`, those with a semantic score first."""
    found: list[tuple[int, int, str]] = []
    for i in _reading_order(passages, from_passages):
        for j, s in enumerate(tx.sentences(passages[i].body)):
            if len(tx.words(s)) >= 4 and not guard.is_instruction(s):  # text aimed at the assistant
                found.append((i, j, s))
    if not found:
        return []
    q_terms = tx.term_set(question)
    s_terms = [tx.term_set(s) for _, _, s in found]
    n = len(found)
    idf = {t: math.log(1.0 + n / (1 + sum(1 for st in s_terms if t in st))) for t in q_terms}
    total = sum(idf.values())
    scored = [ScoredSentence(i, j, s, sum(idf[t] for t in q_terms & st) / total if total else 0.0, _rank_prior(i))
              for (i, j, s), st in zip(found, s_terms, strict=True)]
    scored.sort(key=lambda s: (-s.first_pass, s.passage_index, s.position))
    head, tail = scored[:embedded], scored[embedded:]
    sims = np.clip(embed([s.text for s in head]) @ question_vec, 0.0, 1.0)
    head = [ScoredSentence(s.passage_index, s.position, s.text, s.lexical, s.prior, float(sim))
            for s, sim in zip(head, sims, strict=True)]
    head.sort(key=lambda s: (-s.score, s.passage_index, s.position))
    return head + tail


def extractive_answer(question: str, question_vec: NDArray[np.float32], passages: Sequence[Passage],
                      embed: EmbedFn, *, max_sentences: int, rrf_k: int) -> Answer:
    """The best sentences of the best passages (the evidence test already judged that they cover
    the question): up to `max_sentences` within `KEEP_WITHIN` of the best, at most
    `SENTENCES_PER_PASSAGE` of one passage, in passage order then reading order, each cited [n].
    Passages with no sentence (code, tables) are quoted from their start instead."""
    if not passages:
        return refusal(EXTRACTIVE_MODEL)
    ranked = [s for s in score_sentences(question, question_vec, passages, embed) if s.semantic is not None]
    if not ranked:
        body = guard.withhold_instructions(passages[0].body)
        if not body.strip():
            return refusal(EXTRACTIVE_MODEL)
        return Answer(f"{tx.shorten(body, 400)} [1]", [citation_for(1, passages[0], body, rrf_k)], False,
                      EXTRACTIVE_MODEL)
    best = ranked[0].score
    chosen: list[ScoredSentence] = []
    for s in ranked:
        if len(chosen) >= max_sentences or s.score < KEEP_WITHIN * best:
            break
        if sum(1 for c in chosen if c.passage_index == s.passage_index) >= SENTENCES_PER_PASSAGE:
            continue
        if any(_normalised_text(c.text) == _normalised_text(s.text) for c in chosen):
            continue
        chosen.append(s)
    chosen.sort(key=lambda s: (s.passage_index, s.position))
    numbers: dict[int, int] = {}
    parts = []
    for s in chosen:
        n = numbers.setdefault(s.passage_index, s.passage_index + 1)
        parts.append(f"{s.text} [{n}]")
    citations = []
    for idx, n in numbers.items():
        snippet = " ".join(s.text for s in chosen if s.passage_index == idx)
        citations.append(citation_for(n, passages[idx], snippet, rrf_k))
    return Answer(" ".join(parts), citations, False, EXTRACTIVE_MODEL)


_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
NOT_COVERED = "NOT_COVERED"


def cited_numbers(answer: str, available: int) -> list[int]:
    """The [n] (and [n, m]) markers of an answer that name one of the `available` sources."""
    seen: list[int] = []
    for m in _CITE.finditer(answer):
        for part in m.group(1).split(","):
            n = int(part)
            if 1 <= n <= available and n not in seen:
                seen.append(n)
    return seen


def grounded_llm_answer(raw: str, passages: Sequence[Passage], model: str, rrf_k: int,
                        usage: dict[str, Any] | None = None, *, protected: Sequence[str] = ()) -> Answer:
    """A model's answer as the product returns it: a refusal if the model said it is not
    covered, cited no source it was given, or fails the output guard (`guard.check_answer`:
    repeats a `protected` text such as the system prompt, links outside its sources, or is not
    supported by the sources it cites); otherwise the answer and its cited sources."""
    text = raw.strip()
    numbers = cited_numbers(text, len(passages))
    verdict = guard.check_answer(text, [passages[n - 1].body for n in numbers], protected) if numbers else None
    if not text or NOT_COVERED in text or not numbers or (verdict is not None and not verdict.ok):
        answer = refusal(model, REASON_UNSUPPORTED_ANSWER if verdict and not verdict.ok else REASON_NOT_COVERED)
        answer.usage = {**(usage or {}), **({"guard": verdict.reason} if verdict and not verdict.ok else {})}
        return answer
    citations = [citation_for(n, passages[n - 1], guard.withhold_instructions(passages[n - 1].body), rrf_k)
                 for n in sorted(numbers)]
    return Answer(text, citations, False, model, usage or {})
