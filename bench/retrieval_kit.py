"""What `bench retrieval` and `bench scale` share: the real-text corpus, ai.chunks loaded at any
size and spread, `Retriever.retrieve` timed question by question, and the product's vector query
against exact search.

- `prepare`: the seeded selection of Debian documentation chunks (bench/real_corpus.py), their
  vectors and seeded questions with theirs (all cached in .cache/bench-corpus).
- `load`: `rows` rows of ai.chunks in `courses` courses (contiguous, even blocks of rows; chunk sets
  of `chunks_per_asset` chunks, all live), the corpus repeated, each repetition's vectors with a
  seeded N(0, NOISE_SIGMA) noise per dimension, renormalised (no exact duplicates in the HNSW graph);
  binary COPY with ai.chunks' secondary indexes dropped and rebuilt after the load (the product's own
  definitions, read from the migrated database), then `repository.refresh_lexicon` per course (what
  `switch_live` maintains) and VACUUM (ANALYZE) (so that autovacuum does not start on the fresh rows
  under the measurement).
- `measure`: `retrieve()` per mode in a rotating order, each call in its own read-only
  repeatable-read transaction on the product's `Database` connection (as `AssistantService`); the
  question's embedding is passed in (not timed).
- `ann`: the product's vector query (chunk-set filter, iterative scan) at given ef_search values
  against exact search (index scans off): recall@10 and content recall@10 (a chunk counts as found
  when any of its noisy copies is).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from bench import real_corpus
from bench.harness import median, percentile

if TYPE_CHECKING:
    from smartcourse.assistant.retrieval import Mode

NOISE_SIGMA = 0.01
K = 6


@dataclass
class Corpus:
    chunks: list[real_corpus.CorpusChunk]
    vecs: np.ndarray
    info: dict[str, Any]
    cost: real_corpus.FirstRunCost
    #: the measured questions (the warm-up ones excluded) and their vectors
    questions: list[str]
    qvecs: np.ndarray
    warm: list[tuple[str, np.ndarray]]
    prep_s: float

    def describe(self) -> str:
        """Where the text comes from and what preparing it cost this run (one paragraph's start)."""
        pkgs = ", ".join(f"{p['deb'].split('_')[0]} {p['deb'].split('_')[1].replace('%3a', ':')} ({p['pages']:,} "
                         f"pages, {p['chunks']:,} chunks)" for p in self.info["packages"].values())
        by_pkg: dict[str, int] = {}
        for c in self.chunks:
            by_pkg[c.package] = by_pkg.get(c.package, 0) + 1
        return (f"Real text: Debian bookworm's {pkgs}, extracted and chunked by the product (256 MiniLM tokens); "
                f"a seeded selection of {len(self.chunks):,} distinct chunks of at least {real_corpus.MIN_TOKENS} "
                f"tokens ({', '.join(f'{k} {v:,}' for k, v in sorted(by_pkg.items()))}), embedded by the product's "
                f"MiniLM (int8 ONNX, CPU). Corpus, chunks and vectors: {self.cost.describe()}; preparation took "
                f"{self.prep_s:.0f} s this run.")


def prepare(n_chunks: int, n_questions: int, warmup: int, seed: int) -> Corpus:
    cost = real_corpus.FirstRunCost()
    t0 = time.perf_counter()
    chunks, info = real_corpus.all_chunks(cost)
    corpus = real_corpus.select_chunks(chunks, n_chunks, seed)
    vecs = real_corpus.embed_cached([c.text for c in corpus], cost)
    asked = real_corpus.questions(corpus, n_questions + warmup, seed + 1)
    qvecs = real_corpus.embed_cached(asked, cost)
    return Corpus(corpus, vecs, info, cost, asked[warmup:], qvecs[warmup:],
                  list(zip(asked[:warmup], qvecs[:warmup], strict=True)), time.perf_counter() - t0)


@dataclass(frozen=True)
class Block:
    """A run of `length` consecutive rows of one course forming one chunk set (one asset)."""
    course: int
    start: int
    length: int


def spread(rows: int, courses: int, chunks_per_asset: int) -> list[Block]:
    """`rows` rows in `courses` even, contiguous blocks, each cut into chunk sets of at most
    `chunks_per_asset` rows, in row order."""
    if courses <= 0 or rows % courses:
        raise ValueError(f"{rows} rows do not spread evenly over {courses} courses")
    per = rows // courses
    step = max(1, min(chunks_per_asset, per))
    return [Block(c, c * per + s, min(step, per - s)) for c in range(courses) for s in range(0, per, step)]


@dataclass
class Loaded:
    courses: list[uuid.UUID]
    sets: dict[uuid.UUID, list[uuid.UUID]]
    #: asset -> the corpus index of its first chunk (chunk `ordinal` of it is corpus chunk start + ordinal, mod size)
    asset_start: dict[uuid.UUID, int] = field(default_factory=dict)
    corpus_size: int = 1
    rows: int = 0
    copy_s: float = 0.0
    index_s: dict[str, float] = field(default_factory=dict)
    lexicon_s: list[float] = field(default_factory=list)
    vacuum_s: float = 0.0
    total_s: float = 0.0

    def content(self, asset: uuid.UUID, ordinal: int) -> int:
        return (self.asset_start[asset] + ordinal) % self.corpus_size

    def index_builds(self) -> str:
        return " + ".join(f"{k.removeprefix('chunks_').removesuffix('_idx')} {v:.0f}" for k, v in self.index_s.items())

    def lexicon(self) -> str:
        lex = self.lexicon_s
        return f"{median(lex):.2f} / {max(lex):.2f}" if lex else "not in the product"


def noisy(vecs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = vecs + NOISE_SIGMA * rng.standard_normal(vecs.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ai.chunks and of its BM25 side table ai.chunk_bodies
    (filled by ai.chunks' triggers, migration 0099) that back no constraint (rebuilt after the load)."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid IN ('ai.chunks'::regclass, 'ai.chunk_bodies'::regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY i.relname"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def load(url: str, *, rows: int, courses: int, corpus: Sequence[real_corpus.CorpusChunk], vecs: np.ndarray,
         rng: np.random.Generator, chunks_per_asset: int = 100, maintenance_work_mem: str = "1GB",
         workers: int = 2, work_mem: str | None = None) -> Loaded:
    """See the module docstring. `work_mem`, if given, is the loading session's (refresh_lexicon's
    aggregate over a large course); the measured connections keep the server's."""
    from pgvector.psycopg import register_vector

    from smartcourse.ai import repository
    from smartcourse.ai.embeddings import MODEL_NAME, MODEL_VERSION

    t_all = time.perf_counter()
    n = len(corpus)
    ids = [uuid.uuid4() for _ in range(courses)]
    loaded = Loaded(ids, {c: [] for c in ids}, corpus_size=n)
    blocks = [(b, uuid.uuid4(), uuid.uuid4()) for b in spread(rows, courses, chunks_per_asset)]
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        indexes = secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(f'DROP INDEX ai."{name}"')
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO ai.chunk_sets (id, course_id, asset_id, s3_key, content_hash, model_name, "
                    "model_version, format, title, chunk_count, token_count) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, 'html', %s, %s, %s)",
                    [(cs, ids[b.course], asset, f"courses/{ids[b.course]}/assets/{asset}/manual-{b.start % n}.html",
                      f"bench-{b.start}", MODEL_NAME, MODEL_VERSION, corpus[b.start % n].title, b.length,
                      sum(corpus[(b.start + i) % n].token_count for i in range(b.length)))
                     for b, asset, cs in blocks])
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(
                    "COPY ai.chunks (chunk_set_id, course_id, asset_id, ordinal, title, text, metadata, token_count, "
                    "embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "uuid", "uuid", "int4", "text", "text", "jsonb", "int4", "vector"])
                copy_vecs = vecs
                for b, asset, cs in blocks:
                    course = ids[b.course]
                    for r in range(b.start, b.start + b.length):
                        i = r % n
                        if i == 0:  # a new repetition of the corpus: its own noise
                            copy_vecs = noisy(vecs, rng)
                        chunk = corpus[i]
                        copy.write_row((cs, course, asset, r - b.start, chunk.title, chunk.text, chunk.metadata,
                                        chunk.token_count, copy_vecs[i]))
                        loaded.rows += 1
            loaded.copy_s = time.perf_counter() - t0
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO ai.course_live_versions (course_id, version) VALUES (%s, 1)",
                                [(c,) for c in ids])
                cur.executemany("INSERT INTO ai.live_chunk_sets (course_id, asset_id, chunk_set_id, course_version) "
                                "VALUES (%s, %s, %s, 1)", [(ids[b.course], asset, cs) for b, asset, cs in blocks])
            for b, asset, cs in blocks:
                loaded.sets[ids[b.course]].append(cs)
                loaded.asset_start[asset] = b.start % n
        conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        if work_mem:
            conn.execute(f"SET work_mem = '{work_mem}'")
        # GIN and btree first, the HNSW graph last (the longest).
        for name, ddl in sorted(indexes, key=lambda x: "hnsw" in x[1].lower()):
            t0 = time.perf_counter()
            conn.execute(ddl)
            loaded.index_s[name] = time.perf_counter() - t0
        refresh = getattr(repository, "refresh_lexicon", None)
        if refresh is not None:
            for course in ids:
                t0 = time.perf_counter()
                with conn.transaction():
                    refresh(conn, course)
                loaded.lexicon_s.append(time.perf_counter() - t0)
        # VACUUM, not only ANALYZE: a fresh load passes autovacuum's insert threshold, and its VACUUM of
        # ai.chunks (minutes at 1M rows) would otherwise run under the measurement.
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        loaded.vacuum_s = time.perf_counter() - t0
    loaded.total_s = time.perf_counter() - t_all
    return loaded


class NoEmbedder:
    def embed(self, texts: Any) -> np.ndarray:
        raise AssertionError("the questions carry their vectors")


@dataclass
class Timed:
    lat: dict[str, list[float]]
    #: hybrid's own phase timings, median ms
    parts: dict[str, float]
    empty: dict[str, int]


def measure(url: str, courses: Sequence[uuid.UUID], questions: Sequence[str], qvecs: np.ndarray,
            warm: Sequence[tuple[str, np.ndarray]], *, modes: Sequence[Mode], budget_s: float, seed: int,
            application_name: str = "bench-retrieval") -> Timed:
    """Latency of `retrieve()` per mode, question by question in a rotating order; question i is
    scoped to course i mod len(courses). Stops past `budget_s` (the lists then say how many ran)."""
    from smartcourse.assistant.bootstrap import build_retriever
    from smartcourse.assistant.settings import AssistantSettings
    from smartcourse.db import Database, register_pgvector

    settings = AssistantSettings(database_url=url, jwt_secret="b" * 32, groq_api_key=None,
                                 groq_api_key_secret_arn=None)
    db = Database(url, application_name=application_name, configure=register_pgvector)
    # as the assistant builds it: the text ranking on its own connection, beside the vector query
    retriever = build_retriever(settings, NoEmbedder(), lexical_db=Database(url, application_name=application_name)
                                if settings.retrieval_parallel else None)
    modes = tuple(modes)
    lat: dict[str, list[float]] = {m: [] for m in modes}
    parts: dict[str, list[float]] = {}
    empty: dict[str, int] = {m: 0 for m in modes}
    rng = np.random.default_rng(seed)

    def one(i: int, q: str, vec: np.ndarray, mode: Mode) -> tuple[float, Any]:
        t0 = time.perf_counter()
        with db.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # as AssistantService
            r = retriever.retrieve(conn, courses[i % len(courses)], q, K, mode=mode, question_vec=vec)
        return (time.perf_counter() - t0) * 1000, r

    try:
        for i, (q, vec) in enumerate(warm):
            for mode in modes:
                one(i, q, vec, mode)
        start = time.perf_counter()
        for i, (q, vec) in enumerate(zip(questions, qvecs, strict=True)):
            if time.perf_counter() - start > budget_s:
                break
            shift = int(rng.integers(0, len(modes)))
            for mode in modes[shift:] + modes[:shift]:
                ms, r = one(i, q, vec, mode)
                lat[mode].append(ms)
                empty[mode] += not r.passages
                if mode == "hybrid":
                    for name, v in r.timings_ms.items():
                        parts.setdefault(name, []).append(v)
    finally:
        retriever.close()
        db.close()
    return Timed(lat, {k: median(v) for k, v in parts.items()}, empty)


def _product_vector_sql(n_sets: int) -> str:
    from smartcourse.assistant.retrieval import vector_sql

    select = "SELECT c.id, c.asset_id, "
    sql = vector_sql(n_sets)
    assert select in sql
    return sql.replace(select, "SELECT c.id, c.asset_id, c.ordinal, ")


def vector_query(conn: psycopg.Connection[Any], course: uuid.UUID, sets: list[uuid.UUID], q: np.ndarray,
                 *, exact: bool, ef: int) -> tuple[list[dict[str, Any]], float]:
    """The product's vector query (`retrieval.vector_sql`), top 10 (id, asset_id, ordinal)."""
    from pgvector import Vector

    sql = _product_vector_sql(len(sets))
    with conn.transaction():
        if exact:
            conn.execute("SET LOCAL enable_indexscan = off")
        else:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        t0 = time.perf_counter()
        rows = conn.execute(sql, {"q": Vector(q).to_text(), "sets": sets, "course": course, "n": 10}).fetchall()
        ms = (time.perf_counter() - t0) * 1000
    rows.sort(key=lambda r: r["distance"])
    return rows, ms


@dataclass
class AnnResult:
    exact_ms: list[float]
    #: ef_search -> (latencies ms, recall@10, content recall@10)
    by_ef: dict[int, tuple[list[float], float, float]]
    uses_hnsw: bool
    #: distinct corpus chunks in exact search's top 10, on average
    distinct: float

    def rows(self, label: str) -> list[dict[str, Any]]:
        ex = median(self.exact_ms)
        out: list[dict[str, Any]] = [
            {"layout": label, "search": "exact (index scans off) - baseline", "ef_search": "", "p50 ms": ex,
             "p95 ms": percentile(self.exact_ms, 95), "recall@10": 1.0, "content recall@10": 1.0,
             "speed-up vs exact (p50)": 1.0}]
        for ef, (lat, recall, content) in self.by_ef.items():
            out.append({"layout": label, "search": "product vector query (HNSW, iterative scan)", "ef_search": ef,
                        "p50 ms": median(lat), "p95 ms": percentile(lat, 95), "recall@10": recall,
                        "content recall@10": content, "speed-up vs exact (p50)": ex / median(lat)})
        return out


def recall(found: Sequence[set[Any]], truth: Sequence[set[Any]]) -> float:
    """Share of the exact answers' items that were found, over all questions."""
    hits = sum(len(f & t) for f, t in zip(found, truth, strict=True))
    return hits / max(1, sum(len(t) for t in truth))


def ann(url: str, loaded: Loaded, qvecs: np.ndarray, ef_search: Sequence[int]) -> AnnResult:
    """The product's vector query against exact search; question i scoped to course i mod courses."""
    from pgvector import Vector

    courses = loaded.courses
    with psycopg.connect(url, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
        c0 = courses[0]
        plan = conn.execute("EXPLAIN " + _product_vector_sql(len(loaded.sets[c0])),
                            {"q": Vector(qvecs[0]).to_text(), "sets": loaded.sets[c0], "course": c0, "n": 10}
                            ).fetchall()
        uses_hnsw = any("hnsw" in str(r).lower() for r in plan)

        def content(found: list[dict[str, Any]]) -> set[int]:
            return {loaded.content(r["asset_id"], r["ordinal"]) for r in found}

        truth: list[set[int]] = []
        truth_content: list[set[int]] = []
        exact_ms: list[float] = []
        for i, q in enumerate(qvecs):
            c = courses[i % len(courses)]
            found, ms = vector_query(conn, c, loaded.sets[c], q, exact=True, ef=0)
            truth.append({r["id"] for r in found})
            truth_content.append(content(found))
            exact_ms.append(ms)
        by_ef: dict[int, tuple[list[float], float, float]] = {}
        for ef in ef_search:
            lat: list[float] = []
            got: list[set[int]] = []
            got_content: list[set[int]] = []
            for i, q in enumerate(qvecs):
                c = courses[i % len(courses)]
                found, ms = vector_query(conn, c, loaded.sets[c], q, exact=False, ef=ef)
                lat.append(ms)
                got.append({r["id"] for r in found})
                got_content.append(content(found))
            by_ef[ef] = (lat, recall(got, truth), recall(got_content, truth_content))
    return AnnResult(exact_ms, by_ef, uses_hnsw, float(np.mean([len(t) for t in truth_content])))


def relation_sizes(url: str) -> dict[str, int]:
    """Bytes: ai.chunks and its BM25 side table ai.chunk_bodies in all (heaps, TOAST, every index),
    ai.chunks' heap, the side table's heap, and each index of either."""
    with psycopg.connect(url, autocommit=True) as conn:
        out = {"total": conn.execute("SELECT pg_total_relation_size('ai.chunks') "  # type: ignore[index]
                                     "+ pg_total_relation_size('ai.chunk_bodies')").fetchone()[0],
               "heap": conn.execute("SELECT pg_relation_size('ai.chunks')").fetchone()[0],  # type: ignore[index]
               "bodies": conn.execute("SELECT pg_relation_size('ai.chunk_bodies')").fetchone()[0]}  # type: ignore[index]
        for name, size in conn.execute(
                "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid IN ('ai.chunks'::regclass, 'ai.chunk_bodies'::regclass)").fetchall():
            out[name] = size
    return out
