"""Embedding throughput of smartcourse.ai.embeddings.MiniLMEmbedder.

Embeds ~500 realistic 60-word course passages with batch sizes 16/32/64, on 1 and 2
ONNX Runtime threads, and prints passages/second, plus the model load time.

    PYTHONPATH=shared .venv/bin/python bench/bench_embeddings.py [--passages 500] [--repeats 3]

Each thread count gets its own session (the runtime cache is keyed by thread count), so
its load time is measured too. Results are the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from smartcourse.ai.embeddings import MiniLMEmbedder, count_tokens

SENTENCES = [
    "PostgreSQL keeps old row versions so readers never block writers under MVCC.",
    "A B-tree index keeps keys sorted, which makes range queries and ORDER BY cheap.",
    "The query planner estimates the cost of each plan from table statistics.",
    "VACUUM removes dead tuples and updates the visibility map for index-only scans.",
    "Gradient descent updates the weights in the direction that reduces the loss.",
    "A learning rate that is too large makes the loss oscillate instead of converging.",
    "Overfitting shows up as a growing gap between training and validation accuracy.",
    "Regularisation such as weight decay penalises large weights to improve generalisation.",
    "In a hash join the smaller relation is loaded into an in-memory hash table.",
    "Normal forms reduce redundancy by splitting tables along functional dependencies.",
    "A transaction either commits all of its changes or none of them.",
    "Photosynthesis converts light energy into chemical energy stored as glucose.",
    "The mitochondria produce ATP through oxidative phosphorylation.",
    "Supply and demand curves meet at the market equilibrium price.",
    "The French Revolution began in 1789 and reshaped European politics.",
    "Recursion solves a problem by reducing it to smaller instances of itself.",
    "Big-O notation describes how running time grows with the size of the input.",
    "A binary search halves the search interval at every step.",
    "Dynamic programming stores the answers to overlapping subproblems.",
    "TCP guarantees ordered delivery by numbering bytes and retransmitting lost segments.",
    "For the assignment, submit a short report and the notebook with your results.",
    "Remember that the midterm covers chapters one to five, including the exercises.",
    "In this week's lab you will implement a simple key-value store in Python.",
    "Consider how the result changes if the table no longer fits in memory.",
]


def passages(n: int, words: int = 60, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text: list[str] = []
        while len(text) < words:
            text.extend(rng.choice(SENTENCES).split())
        out.append(" ".join(text[:words]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    args = parser.parse_args()

    texts = passages(args.passages)
    tokens = [count_tokens(t) for t in texts]
    print(
        f"{len(texts)} passages of 60 words, {statistics.mean(tokens):.0f} tokens on average "
        f"(max {max(tokens)}); cpu_count={os.cpu_count()}"
    )
    if hasattr(os, "getloadavg"):  # other processes skew the figures: say so
        print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    for threads in args.threads:
        model = MiniLMEmbedder(threads=threads)
        start = time.perf_counter()
        model.load()
        print(f"\nthreads={threads}: model load {time.perf_counter() - start:.2f} s")
        model.embed(texts[:8])  # warm-up
        for batch_size in args.batch_sizes:
            model.batch_size = batch_size
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.embed(texts)
                best = min(best, time.perf_counter() - start)
            print(f"  batch_size={batch_size:3d}: {len(texts) / best:7.1f} passages/s ({best:.2f} s)")
    if hasattr(os, "getloadavg"):
        print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
