"""Hybrid retrieval over ONE course's live chunk sets (adapter: SQL).

Scope: the chunk sets listed in ai.live_chunk_sets for the course (what its published version
serves; a deleted asset has none: `repository.purge_asset` deletes its chunk sets, and their live
rows with them, in the transaction that records the deletion, and a live switch leaves deleted
assets out, so no test of ai.deleted_assets is made per question); both rankings below are
restricted to those chunk set ids and to the course id, so another course or an unpublished
version can never appear. The passages are then loaded by the ids those rankings returned (and
the course id): a chunk never changes chunk set, so the set list is not parsed a third time (a
course of 10,000 documents sends 10,000 ids).

Rankings, fused by reciprocal rank:
- vector: pgvector cosine distance through the HNSW index (`SET LOCAL hnsw.ef_search`, iterative
  scan so the chunk-set filter still yields enough candidates);
- text: BM25 over the chunks' fielded tsvector (context line weighted A, body D; the body alone
  is scored by default) with the course's document frequencies (ai.course_terms,
  ai.course_lexicon); the rules and the bound on the work per question are in
  `smartcourse.assistant.lexical`.
Then a page boost (`domain.page_boosted_order`) and near-duplicate removal.

With a second database connection (`lexical_db`, the assistant's default) the two rankings run at
the same time: the text ranking's statements go to the second connection, in a transaction that
imports the first one's snapshot (`pg_export_snapshot` read with the live chunk sets), while the
vector query runs on the first. Both see the same data; a hybrid question then costs about its
slower ranking instead of their sum (bench retrieval, docs/benchmarks.md). Without it, or outside a
transaction, they run one after the other on the caller's connection.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format, TransactionStatus

from smartcourse.assistant import lexical
from smartcourse.assistant.domain import Passage, page_boosted_order, reciprocal_rank_fusion, remove_near_duplicates
from smartcourse.errors import DependencyUnavailable
from smartcourse.observability import logger
from smartcourse.readonly import lms_access

if TYPE_CHECKING:
    from smartcourse.db import Database

Mode = Literal["hybrid", "vector", "text"]


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 40
    ef_search: int = 100
    rrf_k: int = 10
    near_duplicate_cosine: float = 0.97
    #: A chunk's fused score gains this share of its page's next best chunk's score
    #: (`domain.page_boosted_order`); 0 ranks chunks alone.
    page_boost: float = 0.5
    bm25: lexical.Bm25Params = field(default_factory=lexical.Bm25Params)


@dataclass
class Retrieval:
    passages: list[Passage]
    question_vec: NDArray[np.float32]
    course_version: int | None
    chunk_sets: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: The question's lexemes with their idf in the course (absent ones at the highest idf):
    #: with each passage's `lexemes`, the lexical evidence (`domain.assess_evidence`).
    terms: tuple[lexical.QueryTerm, ...] = ()

    @property
    def chunk_ids(self) -> list[int]:
        return [p.chunk_id for p in self.passages]


#: The course's live chunk sets as ONE uuid[] value in PostgreSQL's binary array format
#: (`array_send`), passed back to both rankings' queries as a binary uuid[] parameter
#: (`ChunkSetList`): a course of 1,000 documents has 1,000 sets, and neither side parses or formats
#: 1,000 uuids as text (0.96 -> 0.19 ms a statement at 1,000 sets, bench retrieval's layout (b));
#: as a list of Python UUIDs the client's own dumping cost more than the queries' scans.
#: A custom plan folds the parameter into a constant; a generic plan (PostgreSQL may switch a prepared
#: statement to one after 5 runs, and psycopg prepares a query run 5 times on a connection) would
#: read the array again for every row it filters: 5 s at 10,000 sets in a forced test (bench
#: scale). So the transaction that retrieves plans every statement for its parameters.
#: A long list is tested as `coalesce(chunk_set_id = ANY(sets), false)`: the same test, still
#: hashed once per statement, but the planner cannot see through `coalesce` to estimate it, whereas
#: for a bare `= ANY(constant)` (or its `IS TRUE`) it estimates every element against the column's
#: statistics: 6-10 ms of planning per statement at 10,000 sets (one course of 1M chunks, bench
#: scale), 0.1 ms with the wrapper. The wrapped filter is estimated at a default share (0.5); the
#: bare one at the course's share of the table times the sets' (independent conditions), far below
#: the truth, which is what keeps a small course on an exact scan of its rows (4,000 chunks among
#: 100,000: 3.9 ms, where the wrapped filter made the planner take the HNSW index, 6.5 ms). So the
#: vector query wraps the list from WRAPPED_SETS sets on (the courses of 1,000 and 10,000 sets of
#: bench retrieval and bench scale took the same plan, HNSW, wrapped or not); the text ranking
#: always does (its plan is the GIN index whatever the estimate).
WRAPPED_SETS = 500

#: A row's live-set and course tests, as the statements below write them.
_IN_LIVE_SETS = "c.chunk_set_id = ANY(%(sets)s::uuid[])"
_IN_COURSE = "c.course_id = %(course)s"


def _unestimated(condition: str) -> str:
    """The same test as a filter the planner neither estimates nor turns into an index condition
    (it does not see into `coalesce`): the wrapper above, and the text ranking's course test
    when the course's GIN entry is not read (`lexical.uses_course_key`)."""
    return f"coalesce({condition}, false)"

_LIVE_SQL = """
SELECT array_send(array_agg(l.chunk_set_id)) AS sets, count(*) AS n,
       max(l.course_version) AS version, set_config('plan_cache_mode', 'force_custom_plan', true) AS plans
FROM ai.live_chunk_sets l
WHERE l.course_id = %s
"""

#: The same, and the transaction's snapshot for the text ranking's connection to import.
_LIVE_EXPORT_SQL = _LIVE_SQL.replace("AS plans", "AS plans, pg_export_snapshot() AS snapshot")

#: The text ranking's transaction on the second connection: the first one's snapshot, and custom
#: plans as _LIVE_SQL sets them (one round trip; the snapshot id is a literal: SET takes no parameter).
_IMPORT_SQL = ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}; "
               "SET LOCAL plan_cache_mode = force_custom_plan")

_HNSW_SQL = ("SELECT set_config('hnsw.ef_search', %s, true), "
             "set_config('hnsw.iterative_scan', 'relaxed_order', true)")

_VECTOR_TEMPLATE = """
SELECT c.id, c.asset_id, c.embedding <=> %(q)s::vector AS distance
FROM ai.chunks c
WHERE {sets} AND {course}
ORDER BY c.embedding <=> %(q)s::vector
LIMIT %(n)s
"""
_VECTOR_SQL = _VECTOR_TEMPLATE.format(sets=_IN_LIVE_SETS, course=_IN_COURSE)
#: The same for a course of WRAPPED_SETS live sets or more (see above).
_VECTOR_WRAPPED_SQL = _VECTOR_TEMPLATE.format(sets=_unestimated(_IN_LIVE_SETS), course=_IN_COURSE)


def vector_sql(n_sets: int) -> str:
    """The vector ranking's statement for a course of `n_sets` live chunk sets."""
    return _VECTOR_WRAPPED_SQL if n_sets >= WRAPPED_SETS else _VECTOR_SQL

_TERMS_SQL = """
SELECT q.lexeme, coalesce(t.df, 0) AS df, coalesce(s.chunks, 0) AS chunks, coalesce(s.avg_length, 0) AS avg_length,
       (SELECT r.reltuples FROM pg_class r WHERE r.oid = 'ai.chunk_bodies'::regclass) AS indexed
FROM (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS lexeme) q
LEFT JOIN ai.course_lexicon s ON s.course_id = %(course)s
LEFT JOIN ai.course_terms t ON t.course_id = %(course)s AND t.lexeme = q.lexeme
"""


#: ts_rank of one lexeme over a tsvector whose positions all weigh 1 is S(tf) / (pi^2 / 6), with
#: S(tf) = sum of 1/j^2 for j = 1..tf (PostgreSQL's calc_rank_or), and pi^2/6 - S(tf) is within
#: 0.1 % of 1 / (tf + 0.5): so tf = round(1 / (pi^2/6 x (1 - rank)) - 0.5), exact for every tf a
#: tsvector keeps (at most 256 positions per lexeme), and 0 for an absent lexeme.
_TF = ("round(1 / (" + repr(lexical.ZETA2) +
       " * greatest(1 - ts_rank('{{1,1,1,1}}', c.body, {lex}::tsquery, 0), 1e-6)) - 0.5)")


@functools.lru_cache(maxsize=256)
def _bm25_sql(n_terms: int, context: bool, course_key: bool) -> sql.Composed:
    """BM25 over at most `budget` candidate chunks. The score is one expression with a term per
    question lexeme: idf x tf (k1 + 1) / (tf + K), written idf x (k1 + 1) x (1 - K / (tf + K)) so
    that tf, read from the body's positions, is computed once (plus idf x context weight if the
    lexeme is in the context line, when that weight is not 0). A per-row subquery over arrays
    costs three times more at 100k chunks. Only placeholders vary with the number of terms;
    every value is a parameter. `course_key`: the GIN index scan reads the course id's entry
    (`lexical.uses_course_key`); else the course id is tested on the rows it finds."""
    terms = []
    for i in range(n_terms):
        tf = sql.SQL(_TF).format(lex=sql.Placeholder(f"lex{i}"))
        term = sql.SQL("{idf} * (1 - norm.k / ({tf} + norm.k))").format(idf=sql.Placeholder(f"idf{i}"), tf=tf)
        if context:
            term = sql.SQL("{term} + CASE WHEN c.tsv @@ {ctx}::tsquery THEN {idf} * %(context_weight)s / %(k1p1)s "
                           "ELSE 0 END").format(term=term, ctx=sql.Placeholder(f"ctx{i}"),
                                                idf=sql.Placeholder(f"idf{i}"))
        terms.append(term)
    # the context line's test needs the chunk's whole tsvector: only then is ai.chunks read
    context_join = sql.SQL("JOIN ai.chunks t ON t.id = c.chunk_id" if context else "")
    return sql.SQL("""
WITH candidates AS MATERIALIZED (
    SELECT c.chunk_id AS id, c.asset_id, c.body, c.doc_length{tsv}
    FROM ai.chunk_bodies c {context_join}
    -- the body's lexemes, through its GIN index (migration 0099)
    WHERE {course} AND c.body @@ %(candidates)s::tsquery
      -- a filter on the rows the GIN index finds, never an index scan of its own (_unestimated): when
      -- the candidate lexemes are common, the planner would AND the GIN bitmap with an index of the
      -- chunk sets over every live chunk of the course (100,000 entries, 10 ms, a lossy bitmap);
      -- and not estimated element by element (WRAPPED_SETS)
      AND {sets}
    LIMIT %(budget)s
)
SELECT c.id, c.asset_id, %(k1p1)s * ({score}) AS score
FROM candidates c,
     LATERAL (SELECT %(k1)s * (1 - %(b)s + %(b)s * c.doc_length / %(avg_length)s) AS k) norm
ORDER BY score DESC, c.id
LIMIT %(n)s
""").format(score=sql.SQL(" + ").join(terms), context_join=context_join,
            tsv=sql.SQL(", t.tsv" if context else ""),
            sets=sql.SQL(_unestimated(_IN_LIVE_SETS)),
            course=sql.SQL(_IN_COURSE if course_key else _unestimated(_IN_COURSE)))


_ROWS_SQL = """
SELECT c.id, c.asset_id, c.chunk_set_id, c.ordinal, c.title, c.text, c.metadata, c.embedding,
       1 - (c.embedding <=> %(q)s::vector) AS similarity,
       (c.tsv @@ websearch_to_tsquery('english', %(text)s)) AS strict,
       ARRAY(SELECT t.lexeme FROM unnest(%(lexemes)s::text[], %(lexq)s::tsquery[]) AS t(lexeme, q)
             WHERE c.tsv @@ t.q) AS lexemes
FROM ai.chunks c
WHERE c.id = ANY(%(ids)s) AND c.course_id = %(course)s
"""


#: After the second connection failed, questions rank on the caller's connection this long.
BESIDE_RETRY_S = 30.0


class ChunkSetList(bytes):
    """A uuid[] in PostgreSQL's binary format (what `array_send` returned), sent back as is."""


class _ChunkSetListDumper(Dumper):
    """Sends a `ChunkSetList` as a binary uuid[] parameter. The oid is set per instance, not on
    the class, so that registering it does not make it the binary dumper of every uuid[] (COPY)."""

    format = Format.BINARY

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        self.oid = 2951  # uuid[] (pg_type)

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def _adapt(conn: psycopg.Connection[Any]) -> None:
    """Teach the connection `ChunkSetList` (a dictionary write once the connection has its own map)."""
    conn.adapters.register_dumper(ChunkSetList, _ChunkSetListDumper)


class Retriever:
    def __init__(self, embedder: Embedder, config: RetrievalConfig | None = None, *,
                 lexical_db: Database | None = None) -> None:
        """`lexical_db`: a second connection for the text ranking, run beside the vector query
        (module docstring); None runs the two rankings one after the other."""
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        self.lexical_db = lexical_db
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._beside_down_until = 0.0  # monotonic: the second connection failed, rank on the caller's

    def _side(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="retrieval-text")
            return self._pool

    def close(self) -> None:
        """Stop the text ranking's thread and close its connection (tools and tests; a Lambda
        container keeps both for its life)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        if self.lexical_db is not None:
            self.lexical_db.close()

    def embed_question(self, question: str) -> NDArray[np.float32]:
        return np.asarray(self.embedder.embed([question])[0], dtype=np.float32)

    def retrieve(self, conn: psycopg.Connection[Any], course_id: uuid.UUID, question: str, k: int, *,
                 mode: Mode = "hybrid", question_vec: NDArray[np.float32] | None = None,
                 per_asset: int | None = None) -> Retrieval:
        """The top `k` passages for `question` in the course's live chunk sets, best first;
        at most `per_asset` of one asset when given (search lists each page once)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if question_vec is None:
            question_vec = self.embed_question(question)
            timings["embed"] = (time.perf_counter() - t0) * 1000
        beside = (self.lexical_db is not None and mode == "hybrid" and time.monotonic() >= self._beside_down_until
                  and conn.info.transaction_status == TransactionStatus.INTRANS)
        _adapt(conn)
        live = conn.execute(_LIVE_EXPORT_SQL if beside else _LIVE_SQL, (course_id,), binary=True).fetchone()
        assert live is not None  # an aggregate: always one row
        n_sets, version = int(live["n"]), live["version"]
        sets = ChunkSetList(live["sets"] or b"")
        if not n_sets:
            return Retrieval([], question_vec, version, 0, timings)
        params = {"q": question_vec, "sets": sets, "course": course_id, "n": self.config.candidates, "text": question}
        named: dict[str, list[int]] = {}
        asset_of: dict[int, uuid.UUID] = {}
        terms: tuple[lexical.QueryTerm, ...] = ()
        text: Future[tuple[list[dict[str, Any]], tuple[lexical.QueryTerm, ...], float]] | None = None
        if beside:
            text = self._side().submit(self._bm25_beside, live["snapshot"], params)
        try:
            if mode in ("hybrid", "vector"):
                t = time.perf_counter()
                conn.execute(_HNSW_SQL, (str(self.config.ef_search),))
                rows = conn.execute(vector_sql(n_sets), params).fetchall()
                rows.sort(key=lambda r: (r["distance"], r["id"]))
                named["vector"] = [r["id"] for r in rows]
                asset_of.update((r["id"], r["asset_id"]) for r in rows)
                timings["vector"] = (time.perf_counter() - t) * 1000
            if mode in ("hybrid", "text"):
                t = time.perf_counter()
                side = self._beside_result(text) if text is not None else None
                if side is not None:
                    hits, terms, timings["text"] = side
                    timings["text_wait"] = (time.perf_counter() - t) * 1000
                else:
                    hits, terms = self._bm25(conn, params)
                    timings["text"] = (time.perf_counter() - t) * 1000
                named["text"] = [r["id"] for r in hits]
                asset_of.update((r["id"], r["asset_id"]) for r in hits)
        finally:
            if text is not None and not text.done():
                # the vector query failed: the text ranking ends before the caller's transaction,
                # whose exported snapshot it may still be importing
                with contextlib.suppress(Exception):
                    text.result()
        t = time.perf_counter()
        scores = reciprocal_rank_fusion(named.values(), self.config.rrf_k)
        # The page boost is part of the fusion: a single ranking ("vector", "text") stays as it is.
        order = page_boosted_order(scores, asset_of, self.config.page_boost if mode == "hybrid" else 0.0)
        if per_asset is not None:
            order = _at_most_per_asset(order, asset_of, per_asset)
        order = order[: max(k * 3, k + 5)]
        present = [t.lexeme for t in terms if t.df > 0]  # a lexeme the course lacks matches no chunk
        passages = self._load(conn, order, {**params, "lexemes": present,
                                            "lexq": [lexical.tsquery_term(x) for x in present]}, scores, named)
        passages = remove_near_duplicates(passages, self.config.near_duplicate_cosine, limit=k)
        if passages:
            lessons = lms_access.lessons_for_assets(conn, course_id, version, sorted({p.asset_id for p in passages})) \
                if version is not None else {}
            for p in passages:
                ref = lessons.get(p.asset_id)
                if ref is not None:
                    p.lesson_id, p.lesson_title = ref.lesson_id, ref.title
        timings["fuse_load"] = (time.perf_counter() - t) * 1000
        return Retrieval(passages, question_vec, version, n_sets, timings, terms)

    def _beside_result(self, text: Future[tuple[list[dict[str, Any]], tuple[lexical.QueryTerm, ...], float]]
                       ) -> tuple[list[dict[str, Any]], tuple[lexical.QueryTerm, ...], float] | None:
        """The text ranking from the second connection, or None if that connection is unavailable
        (then the caller's ranks it, and the next questions do too for BESIDE_RETRY_S)."""
        try:
            return text.result()
        except DependencyUnavailable:
            self._beside_down_until = time.monotonic() + BESIDE_RETRY_S
            logger.warning("the text ranking's connection is unavailable: ranking on the caller's",
                           extra={"retry_in_s": BESIDE_RETRY_S})
            return None

    def _bm25_beside(self, snapshot: str,
                     params: dict[str, Any]) -> tuple[list[dict[str, Any]], tuple[lexical.QueryTerm, ...], float]:
        """`_bm25` on the second connection, in the snapshot the caller's transaction exported; and
        its duration (ms)."""
        assert self.lexical_db is not None
        t = time.perf_counter()
        with self.lexical_db.transaction() as side:
            _adapt(side)
            side.execute(sql.SQL(_IMPORT_SQL).format(sql.Literal(snapshot)), prepare=False)
            hits, terms = self._bm25(side, params)
        return hits, terms, (time.perf_counter() - t) * 1000

    def _bm25(self, conn: psycopg.Connection[Any],
              params: dict[str, Any]) -> tuple[list[dict[str, Any]], tuple[lexical.QueryTerm, ...]]:
        """Chunks (id, asset_id) by BM25 score, best first (see `smartcourse.assistant.lexical`),
        and the question's terms."""
        rows = conn.execute(_TERMS_SQL, params).fetchall()
        if not rows:
            return [], ()
        n, avg_length = int(rows[0]["chunks"]), float(rows[0]["avg_length"])
        pairs = [(r["lexeme"], int(r["df"])) for r in rows]
        bm = self.config.bm25
        plan = lexical.plan(pairs, n, bm.candidate_budget, bm.max_terms)
        terms = lexical.question_terms(pairs, n)
        if plan.empty or avg_length <= 0:
            return [], terms
        values: dict[str, Any] = {
            **params, "k1": bm.k1, "k1p1": bm.k1 + 1.0, "b": bm.b, "avg_length": avg_length,
            "context_weight": bm.context_weight, "budget": bm.candidate_budget,
            # candidates hold a lexeme in their body (the context line alone makes none)
            "candidates": plan.tsquery()}
        for i, t in enumerate(plan.terms):
            values[f"idf{i}"] = t.idf
            values[f"lex{i}"] = lexical.tsquery_term(t.lexeme)
            values[f"ctx{i}"] = lexical.tsquery_term(t.lexeme, "A")
        course_key = lexical.uses_course_key(n, float(rows[0]["indexed"] or 0), bm.course_key_max_share)
        hits = conn.execute(_bm25_sql(len(plan.terms), bm.context_weight > 0, course_key), values).fetchall()
        return hits, terms

    def _load(self, conn: psycopg.Connection[Any], order: list[int], params: dict[str, Any],
              scores: dict[int, float], named: dict[str, list[int]]) -> list[Passage]:
        if not order:
            return []
        # binary: the embeddings arrive as float4 bytes (pgvector's loader), not 384 numbers in text
        rows = conn.execute(_ROWS_SQL, {**params, "ids": order}, binary=True).fetchall()
        by_id = {r["id"]: r for r in rows}
        ranks = {name: {cid: i for i, cid in enumerate(r, start=1)} for name, r in named.items()}
        out = []
        for cid in order:
            r = by_id.get(cid)
            if r is None:
                continue
            meta = r["metadata"] or {}
            out.append(Passage(
                chunk_id=cid, asset_id=r["asset_id"], chunk_set_id=r["chunk_set_id"], ordinal=r["ordinal"],
                title=r["title"] or "", text=r["text"], metadata=meta, similarity=float(r["similarity"]),
                fused=scores[cid],
                vector_rank=ranks.get("vector", {}).get(cid),
                text_rank=ranks.get("text", {}).get(cid),
                strict_match=bool(r["strict"]),
                lexemes=frozenset(r["lexemes"]),
                embedding=r["embedding"].to_numpy(),
            ))
        return out


def _at_most_per_asset(order: list[int], asset_of: dict[int, uuid.UUID], limit: int) -> list[int]:
    seen: dict[uuid.UUID, int] = {}
    out = []
    for cid in order:
        asset = asset_of[cid]
        if seen.get(asset, 0) < limit:
            seen[asset] = seen.get(asset, 0) + 1
            out.append(cid)
    return out
