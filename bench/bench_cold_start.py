"""Cold start of every function: a fresh process imports its handler and runs one invocation
with its first sample event (events/<Function>/*.json). Baseline in the same run: a bare
interpreter start (`python -c pass`); the ratio is what to compare across machines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import bench_env
from bench.harness import Section, median
from devstack.invoker import FunctionPool, function_env

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def _bare_interpreter_ms() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - t0) * 1000


def run() -> Section:
    rows = []
    with bench_env("benchcold") as env:
        baseline = median([_bare_interpreter_ms() for _ in range(RUNS)])
        for fid, spec in sorted(env.template.functions.items()):
            samples = sorted((ROOT / "events" / fid).glob("*.json"))
            if not samples:
                continue
            event = json.loads(samples[0].read_text())
            totals, inits, errors = [], [], 0
            for _ in range(RUNS):
                pool = FunctionPool(spec, function_env(spec, env.function_env()), max_concurrency=1)
                t0 = time.perf_counter()
                result = pool.invoke(event)
                totals.append((time.perf_counter() - t0) * 1000)
                inits.append(result.init_ms)
                errors += 0 if result.ok else 1
                pool.close()
            rows.append({
                "function": fid,
                "sample event": samples[0].name,
                "handler import ms (median)": median(inits),
                "cold invocation ms (median)": median(totals),
                "x bare interpreter": median(totals) / baseline,
                "errors": errors,
            })
    return Section(
        title="Cold start per function",
        rows=rows,
        notes=(f"A fresh worker process per run (as a new Lambda execution environment): spawn, import the "
               f"handler, run one invocation with the function's first sample event; median of {RUNS}. "
               f"Baseline: bare `python -c pass` = {baseline:.0f} ms (median) in the same run."),
        order=10,
    )
