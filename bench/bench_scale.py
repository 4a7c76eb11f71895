"""Cost growth of the assistant's retrieval (issue 19): 10k / 100k / 1M chunks, in one course and
spread over 1,000 courses.

Corpus, loading and timing are `bench retrieval`'s (bench/retrieval_kit.py): the 4,000-chunk seeded
selection of Debian's documentation, embedded by the product's MiniLM (cached in .cache/bench-corpus),
repeated up to the size, each repetition's vectors with a seeded N(0, 0.01) noise; binary COPY into
the product's schema (the migrations), ai.chunks' secondary indexes (the migrations' definitions: HNSW
m=16, ef_construction=64, the `(course_id, tsv)` GIN, the course btree) rebuilt after the load with
maintenance_work_mem=4GB and 2 parallel workers (the 1M graph, ~2 GB, fits), `refresh_lexicon` per
course, VACUUM (ANALYZE).

Per size and layout, in a fresh database dropped afterwards:
- layout "one course": every chunk in one course (chunk sets of 100 chunks, all live);
- layout "1,000 courses": the chunks spread evenly (10 / 100 / 1,000 chunks a course; chunk sets of
  at most 100), question i scoped to course i mod 1,000, as the product scopes every question.
- `Retriever.retrieve` in "hybrid" and "vector" mode (the baseline: hybrid / vector p95 in the same
  run), question by question in a rotating order, each in its own read-only transaction on the
  product's `Database` connection, after 10 warm-up questions; the question's embedding not timed;
- recall@10 of the product's vector query (ef_search = the product's default, iterative scan) against
  exact search (index scans off) over the first 100 questions, and content recall;
- `pg_total_relation_size('ai.chunks')` and the HNSW and GIN indexes' sizes.
Target (issue 19): hybrid p95 <= 30 ms at 1M chunks, per layout: PASS/FAIL, reported, never asserted.

The 1M size takes most of the run (two loads of 1M rows and two HNSW builds): it is opt-in.

    PYTHONPATH=shared:. .venv/bin/python -m bench scale                        # 10k and 100k
    PYTHONPATH=shared:. .venv/bin/python -m bench.bench_scale --sizes 10k,100k,1m
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import retrieval_kit as kit
from bench.common import bench_env
from bench.harness import Section, median, percentile, table
from devstack.postgres import drop_database

if TYPE_CHECKING:
    from smartcourse.assistant.retrieval import Mode

STAGE = "benchscale"
SIZES_ENV = "BENCH_SCALE_SIZES"
DEFAULT_SIZES = "10k,100k"
CORPUS_CHUNKS = 4_000
CHUNKS_PER_ASSET = 100
MANY_COURSES = 1_000
QUERIES = 200
WARMUP = 10
ANN_QUERIES = 100
SEED = 7
MEASURE_BUDGET_S = 120.0
TARGET_SIZE = 1_000_000
TARGET_P95_MS = 30.0
MODES: tuple[Mode, ...] = ("hybrid", "vector")
MB = 1024 * 1024
MAINTENANCE_WORK_MEM = "4GB"
LEXICON_WORK_MEM = "256MB"


@dataclass(frozen=True)
class Layout:
    name: str
    courses: int


LAYOUTS = (Layout("one course", 1), Layout(f"{MANY_COURSES:,} courses", MANY_COURSES))


def parse_sizes(text: str) -> list[int]:
    """"10k,100k,1m" -> [10000, 100000, 1000000] (k = 1,000, m = 1,000,000; sorted, without repeats)."""
    out = set()
    for part in text.replace(" ", "").lower().split(","):
        if not part:
            continue
        mult = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        digits = part[:-1] if mult > 1 else part
        if not digits.replace("_", "").isdigit():
            raise ValueError(f"not a size: {part!r} (e.g. 10k, 100k, 1m)")
        n = int(digits) * mult
        if n <= 0 or n % MANY_COURSES:
            raise ValueError(f"a size must be a positive multiple of {MANY_COURSES:,}: {part!r}")
        out.add(n)
    if not out:
        raise ValueError("no size given")
    return sorted(out)


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else f"{n:,}"


@dataclass
class Measured:
    size: int
    layout: Layout
    loaded: kit.Loaded
    timed: kit.Timed
    ann: kit.AnnResult
    sizes: dict[str, int]
    took_s: float

    @property
    def label(self) -> str:
        return f"{size_label(self.size)}, {self.layout.name}"

    def p95(self, mode: str) -> float:
        return percentile(self.timed.lat[mode], 95)


def _one(size: int, layout: Layout, corpus: kit.Corpus, ef: int) -> Measured:
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    with bench_env(STAGE, provision=False) as env:
        try:
            loaded = kit.load(env.database_url, rows=size, courses=layout.courses, corpus=corpus.chunks,
                              vecs=corpus.vecs, rng=rng, chunks_per_asset=CHUNKS_PER_ASSET,
                              maintenance_work_mem=MAINTENANCE_WORK_MEM, workers=2, work_mem=LEXICON_WORK_MEM)
            print(f"bench: scale {size_label(size)}, {layout.name}: {loaded.rows:,} rows loaded in "
                  f"{loaded.total_s:.0f} s (COPY {loaded.copy_s:.0f}, indexes {loaded.index_builds()})", flush=True)
            timed = kit.measure(env.database_url, loaded.courses, corpus.questions, corpus.qvecs, corpus.warm,
                                modes=MODES, budget_s=MEASURE_BUDGET_S, seed=SEED + 3, application_name="bench-scale")
            ann = kit.ann(env.database_url, loaded, corpus.qvecs[:ANN_QUERIES], (ef,))
            sizes = kit.relation_sizes(env.database_url)
        finally:
            drop_database(env.endpoints.admin_database_url, f"sc_{STAGE}")
    m = Measured(size, layout, loaded, timed, ann, sizes, time.perf_counter() - t0)
    print(f"bench: scale {m.label}: hybrid p95 {m.p95('hybrid'):.1f} ms, vector p95 {m.p95('vector'):.1f} ms, "
          f"recall@10 {ann.by_ef[ef][1]:.3f}, {m.took_s:.0f} s", flush=True)
    return m


def _rows(results: list[Measured], ef: int) -> list[dict[str, Any]]:
    base = {r.layout.name: r for r in results if r.size == min(x.size for x in results)}
    out = []
    for r in results:
        lat, first = r.timed.lat, base[r.layout.name]
        _, rec, content = r.ann.by_ef[ef]
        out.append({
            "chunks": size_label(r.size), "layout": r.layout.name,
            "chunks per course": f"{r.size // r.layout.courses:,}", "n": len(lat["hybrid"]),
            "hybrid p50 ms": median(lat["hybrid"]), "hybrid p95 ms": r.p95("hybrid"),
            "vector p50 ms": median(lat["vector"]), "vector p95 ms (baseline)": r.p95("vector"),
            "hybrid / vector p95": r.p95("hybrid") / r.p95("vector"),
            f"hybrid p95 x {size_label(first.size)}": r.p95("hybrid") / first.p95("hybrid"),
            "recall@10": rec, "content recall@10": content,
            "vector query plan": "HNSW" if r.ann.uses_hnsw else "exact (course rows)",
            "no passage (hybrid)": r.timed.empty["hybrid"]})
    return out


def _verdicts(results: list[Measured]) -> list[dict[str, Any]]:
    return [{"chunks": size_label(r.size), "layout": r.layout.name, "hybrid p95 ms": r.p95("hybrid"),
             f"<= {TARGET_P95_MS:g} ms": "PASS" if r.p95("hybrid") <= TARGET_P95_MS else "FAIL"}
            for r in results if r.size == TARGET_SIZE]


def _load_rows(results: list[Measured]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        s, ld = r.sizes, r.loaded
        hnsw = sum(v for k, v in s.items() if "hnsw" in k)
        gin = sum(v for k, v in s.items() if "gin" in k)
        out.append({
            "chunks": size_label(r.size), "layout": r.layout.name,
            "live chunk sets per course": len(ld.sets[ld.courses[0]]), "COPY s": ld.copy_s,
            "index builds s": ld.index_builds(), "refresh_lexicon s per course (median / max)": ld.lexicon(),
            "VACUUM ANALYZE s": ld.vacuum_s, "load total s": ld.total_s, "load + measure s": r.took_s,
            "ai.chunks + chunk_bodies total MB": s["total"] / MB, "heap MB": s["heap"] / MB,
            "chunk_bodies heap MB": s["bodies"] / MB, "HNSW MB": hnsw / MB,
            "GIN MB": gin / MB, "total bytes per chunk": s["total"] / r.size})
    return out


def run() -> Section:
    from devstack.stack import running_stack
    from smartcourse.assistant.settings import AssistantSettings

    asked = os.environ.get(SIZES_ENV) or DEFAULT_SIZES
    sizes = parse_sizes(asked)
    command = ("`python -m bench scale` (default sizes)" if asked == DEFAULT_SIZES
               else f"`python -m bench.bench_scale --sizes {asked}`")
    ef = AssistantSettings.model_fields["hnsw_ef_search"].default
    ep = running_stack()
    if ep is not None:
        drop_database(ep.admin_database_url, f"sc_{STAGE}")
    t0 = time.perf_counter()
    corpus = kit.prepare(CORPUS_CHUNKS, QUERIES, WARMUP, SEED)
    results = [_one(size, layout, corpus, ef) for size in sizes for layout in LAYOUTS]
    total_s = time.perf_counter() - t0
    verdicts = _verdicts(results)
    per_size = ", ".join(
        f"{size_label(s)} {sum(r.took_s for r in results if r.size == s):.0f} s" for s in sizes)
    target = (
        f"**Target (issue 19): hybrid p95 <= {TARGET_P95_MS:g} ms at {size_label(TARGET_SIZE)} chunks: "
        f"{'PASS' if all(v[f'<= {TARGET_P95_MS:g} ms'] == 'PASS' for v in verdicts) else 'FAIL'}** "
        "(reported, not asserted).\n\n" + table(verdicts)
        if verdicts else
        f"**Target (issue 19): hybrid p95 <= {TARGET_P95_MS:g} ms at {size_label(TARGET_SIZE)} chunks: not measured "
        f"in this run** (the {size_label(TARGET_SIZE)} size is opt-in: `python -m bench.bench_scale --sizes "
        "10k,100k,1m`).\n")
    notes_by = " ".join(
        f"{r.label}: hybrid phases (median ms) " + ", ".join(f"{k} {v:.1f}" for k, v in r.timed.parts.items())
        + f"; exact top 10 hold {r.ann.distinct:.1f} distinct corpus chunks." for r in results)
    ann_rows = [row for r in results for row in r.ann.rows(r.label)]
    notes = (
        corpus.describe() + f" Sizes this run: {', '.join(size_label(s) for s in sizes)} rows of ai.chunks, the "
        f"{CORPUS_CHUNKS:,} chunks repeated, each repetition's vectors with N(0, {kit.NOISE_SIGMA}) noise per "
        f"dimension, renormalised; two layouts per size, a fresh database each (dropped after): all in one course, "
        f"or spread evenly over {MANY_COURSES:,} courses (question i asked in course i mod {MANY_COURSES:,}); "
        f"chunk sets of at most {CHUNKS_PER_ASSET} chunks, all live. {QUERIES} seeded questions in the corpus's "
        f"wording, embedded by the same model (not timed), `retrieve()` in hybrid and vector mode (the same-run "
        f"baseline) in a rotating order after {WARMUP} warm-up questions. Recall: the product's vector query "
        f"(ef_search {ef}, iterative scan) against exact search (index scans off) over the first {ANN_QUERIES} "
        f"questions. Run by {command}: whole section {total_s:.0f} s ({per_size}).\n\n"
        + target + "\nLoad and storage (binary COPY; the migrations' secondary indexes of ai.chunks rebuilt after the "
        f"load with maintenance_work_mem={MAINTENANCE_WORK_MEM} and 2 parallel workers; refresh_lexicon with "
        f"work_mem={LEXICON_WORK_MEM} on the loading session; sizes by pg_total_relation_size / pg_relation_size "
        "after VACUUM ANALYZE):\n\n"
        + table(_load_rows(results)) + "\n" + notes_by + "\n\n"
        "The product's vector query against exact search (same run, same questions):\n\n" + table(ann_rows)
        + "\nRetrieval latency per size and layout (`Retriever.retrieve`, k=6; baseline: vector only, same "
        "questions, same run; growth: hybrid p95 against the smallest size of the same layout):"
    )
    return Section(title="Assistant retrieval cost growth: 10k / 100k / 1M chunks, one course and 1,000 courses",
                   rows=_rows(results, ef), notes=notes, order=41)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.bench_scale --sizes 10k,100k,1m`: sets the sizes, then `python -m bench scale`."""
    parser = argparse.ArgumentParser(prog="bench.bench_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated sizes of ai.chunks, e.g. 10k,100k,1m (default {DEFAULT_SIZES})")
    args = parser.parse_args(argv)
    parse_sizes(args.sizes)  # fail before any work
    os.environ[SIZES_ENV] = args.sizes
    from bench.__main__ import main as bench_main

    return bench_main(["scale"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
