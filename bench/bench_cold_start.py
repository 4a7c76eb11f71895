"""Cold start of every function: a fresh process imports its handler and runs one invocation
with its first sample event (events/<Function>/*.json). Baseline in the same run: a bare
interpreter start (`python -c pass`); the ratio is what to compare across machines. Each function
is also started with tracing on, as a sampled invocation in AWS (`_X_AMZN_TRACE_ID` and an X-Ray
daemon address: a UDP socket of this process that counts the subsegments it receives), runs
interleaved with the plain ones; issue 15 asks for tracing to cost at most 10 %.

These processes import from the repository, where Python has written each module's bytecode
(`__pycache__`) on an earlier run. A deployed Lambda only has what its bundle ships: /var/task and
/opt are read-only, so a module without bytecode is compiled again at every cold start, and
`sam build`'s Python builder ships none. Every function and the SharedLayer are therefore built by
Makefiles that compile it (shared/Makefile). `_as_deployed` measures the difference on the API:
the handler imported from the bundles those Makefiles make (`-S`, PYTHONDONTWRITEBYTECODE), then
from the same bundles with the bytecode removed."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import bench_env
from bench.harness import Section, median
from devstack.invoker import FunctionPool, function_env

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
#: sample events measured per function (its first ones by name): the API's public certificate check
#: needs only the database, its health check also S3 (boto3) and Kafka
EVENTS = 2


def _bare_interpreter_ms() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - t0) * 1000


#: What every function's handler imports whatever its own code does, from the design card's packages:
#: the database driver (smartcourse.db), the settings models' library (smartcourse.settings) and
#: Powertools' Logger and Metrics (smartcourse.observability).
FLOOR_PACKAGES = "psycopg, pydantic-settings, Powertools Logger and Metrics"
FLOOR = """
import gc, json, os, sys, time, traceback, uuid  # what devstack.worker has imported before a handler
gc.disable()  # as smartcourse.coldstart does around a handler import
t0 = time.perf_counter()
import psycopg, pydantic_settings
from aws_lambda_powertools import Logger, Metrics
print((time.perf_counter() - t0) * 1000)
"""


def _floor_ms(env: dict[str, str]) -> float:
    """Importing only FLOOR_PACKAGES in a fresh interpreter, timed as the worker times a handler import."""
    out = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=True,
                         timeout=120)
    return float(out.stdout)


def _datagrams(sock: socket.socket) -> int:
    n = 0
    sock.setblocking(False)
    while True:
        try:
            sock.recv(65536)
        except BlockingIOError:
            return n
        n += 1


def run() -> Section:
    rows = []
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    tracing = {"AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
               "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
    with bench_env("benchcold") as env:
        # the baseline is sampled throughout (one bare start beside every function's run): a
        # shared machine's speed drifts over the section, and the ratios divide by it
        bare = [_bare_interpreter_ms() for _ in range(RUNS)]
        floor: list[float] = []
        functions = sorted(env.template.functions.items())
        floor_env = function_env(functions[0][1], env.function_env())  # the template's globals (plugins off)
        for fid, spec in functions:
            for sample in sorted((ROOT / "events" / fid).glob("*.json"))[:EVENTS]:
                rows.append(_measure(fid, spec, sample, env, tracing, bare))
                floor.append(_floor_ms(floor_env))  # beside every function's runs too, as the bare starts
        subsegments = _datagrams(daemon)
        baseline = median(bare)
        rows.append({"function": f"baseline: {FLOOR_PACKAGES} alone", "sample event": "",
                     "handler import ms (median)": median(floor)})
        for row in rows:
            row["handler import x bare interpreter"] = row["handler import ms (median)"] / baseline
            if "cold invocation ms (median)" in row:
                row["x bare interpreter"] = row["cold invocation ms (median)"] / baseline
        floor_x = median(floor) / baseline
    daemon.close()
    deployed = _as_deployed()
    return Section(
        title="Cold start per function",
        rows=rows,
        notes=(f"A fresh worker process per run (as a new Lambda execution environment): spawn, import the "
               f"handler, run one invocation with one of the function's sample events (its first {EVENTS} by "
               f"name); median of {RUNS}. Issue 19 asks for every handler import <= 15x the bare interpreter and "
               "the API's first response <= 400 ms. "
               f"Second baseline (last row): the packages every handler imports whatever its own code, "
               f"{FLOOR_PACKAGES}, imported alone in a fresh interpreter (gc off, as the handler imports run), "
               f"{len(floor)} times beside the functions' runs: {floor_x:.1f}x the bare interpreter, which "
               f"leaves {max(0.0, 15 - floor_x):.1f}x for everything else a handler imports "
               "(docs/architecture.md, where a cold start goes). "
               f"Baseline: bare `python -c pass` = {baseline:.0f} ms, the median of {len(bare)} starts spread "
               "over the section (one beside each function's run, so that drift hits both). Tracing on: "
               f"the same, as a sampled invocation (X-Ray subsegments sent by `smartcourse.xray` over UDP, no "
               f"X-Ray SDK); {subsegments} subsegments received in this run. "
               "**As deployed**: Lambda's /var/task and /opt are read-only, so a module without bytecode "
               "is compiled again at every cold start; the bundles are built with `unchecked-hash` bytecode "
               "(shared/Makefile). ApiFunction's handler import from its bundle and the SharedLayer's as "
               f"`sam build` makes them, median of {RUNS}: {deployed}."),
        order=10,
    )


def _measure(fid: str, spec: Any, sample: Path, env: Any, tracing: dict[str, str],
             bare: list[float]) -> dict[str, Any]:
    """The function's figures; the ratios to the bare interpreter are filled in by `run`, from
    every bare start sampled (one more per run here)."""
    event = json.loads(sample.read_text())
    totals: list[float] = []
    inits: list[float] = []
    traced: list[float] = []
    errors = 0
    for _ in range(RUNS):
        bare.append(_bare_interpreter_ms())
        for on in (False, True):  # interleaved: drift on a shared machine hits both alike
            fn_env = {**function_env(spec, env.function_env()), **(tracing if on else {})}
            pool = FunctionPool(spec, fn_env, max_concurrency=1)
            t0 = time.perf_counter()
            result = pool.invoke(event)
            (traced if on else totals).append((time.perf_counter() - t0) * 1000)
            if not on:
                inits.append(result.init_ms)
            errors += 0 if result.ok else 1
            pool.close()
    return {
        "function": fid,
        "sample event": sample.name,
        "handler import ms (median)": median(inits),
        "handler import x bare interpreter": 0.0,
        "cold invocation ms (median)": median(totals),
        "x bare interpreter": 0.0,
        "tracing on: cold invocation ms (median)": median(traced),
        "tracing on / off": median(traced) / median(totals),
        "errors": errors,
    }


#: The handler import measured as deployed: in a fresh interpreter without site-packages or writable
#: bytecode, from the function bundle and the layer only (what /var/task and /opt/python hold).
IMPORT_AS_DEPLOYED = """
import sys, time
t0 = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
print((time.perf_counter() - t0) * 1000)
"""


def _as_deployed() -> str:
    """ApiFunction's handler import from the bundles `sam build` makes (functions/api/Makefile,
    shared/Makefile's build-SharedLayer: `unchecked-hash` bytecode), then from the same bundles
    without their bytecode (what `sam build`'s Python builder shipped before). A sentence."""
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as tmp:
        layer, function = Path(tmp) / "layer", Path(tmp) / "function"
        for folder, target, out in ((ROOT / "shared", "build-SharedLayer", layer),
                                    (ROOT / "functions" / "api", "build-ApiFunction", function)):
            subprocess.run(["make", "--no-print-directory", "-C", str(folder), target, f"ARTIFACTS_DIR={out}",
                            f"PYTHON={sys.executable}"], check=True, capture_output=True, timeout=600)
        env = {"PYTHONDONTWRITEBYTECODE": "1", "POWERTOOLS_SERVICE_NAME": "api", "AWS_DEFAULT_REGION": "us-east-1"}

        def imports() -> float:
            return median([float(subprocess.run(
                [sys.executable, "-S", "-c", IMPORT_AS_DEPLOYED, str(function), str(layer / "python")], env=env,
                capture_output=True, text=True, check=True, timeout=120).stdout) for _ in range(RUNS)])

        compiled = imports()
        for cache in [*layer.rglob("__pycache__"), *function.rglob("__pycache__")]:
            shutil.rmtree(cache)
        bare = imports()
    return (f"{compiled:.0f} ms as built now, {bare:.0f} ms without the bytecode, as `sam build`'s Python "
            f"builder shipped it before ({compiled / bare:.2f}x)")
