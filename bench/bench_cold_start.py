"""Cold start of every function: a fresh process imports its handler and runs one invocation
with its first sample event (events/<Function>/*.json). Baseline in the same run: a bare
interpreter start (`python -c pass`); the ratio is what to compare across machines. Each function
is also started with tracing on, as a sampled invocation in AWS (`_X_AMZN_TRACE_ID` and an X-Ray
daemon address: a UDP socket of this process that counts the subsegments it receives), runs
interleaved with the plain ones; issue 15 asks for tracing to cost at most 10 %.

These processes import from the repository, where Python has written each module's bytecode
(`__pycache__`) on an earlier run. A deployed Lambda has none: `sam build`'s Python builder
installs packages without compiling them, SAM zips with no timestamps (so bytecode compiled with
the default, timestamp-checked, invalidation would be stale on arrival anyway) and /var/task is
read-only, so every cold start compiles every module it imports. `_as_deployed` measures that: the
ApiFunction and SharedLayer bundles installed as `sam build` does (pip `--no-compile`, sources
copied, in .cache/coldstart-bundle, reused while the requirements are unchanged), the handler
imported from them alone (`-S`, PYTHONDONTWRITEBYTECODE), without bytecode and then with bytecode
compiled in `unchecked-hash` mode (PEP 552: valid whatever the files' dates)."""

from __future__ import annotations

import hashlib
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
        baseline = median([_bare_interpreter_ms() for _ in range(RUNS)])
        for fid, spec in sorted(env.template.functions.items()):
            for sample in sorted((ROOT / "events" / fid).glob("*.json"))[:EVENTS]:
                rows.append(_measure(fid, spec, sample, env, tracing, baseline))
        subsegments = _datagrams(daemon)
    daemon.close()
    deployed = _as_deployed()
    return Section(
        title="Cold start per function",
        rows=rows,
        notes=(f"A fresh worker process per run (as a new Lambda execution environment): spawn, import the "
               f"handler, run one invocation with one of the function's sample events (its first {EVENTS} by "
               f"name); median of {RUNS}. Issue 19 asks for every handler import <= 15x the bare interpreter and "
               "the API's first response <= 400 ms. "
               f"Baseline: bare `python -c pass` = {baseline:.0f} ms (median) in the same run. Tracing on: "
               f"the same, as a sampled invocation (X-Ray subsegments sent by `smartcourse.xray` over UDP, no "
               f"X-Ray SDK); {subsegments} subsegments received in this run. "
               "**As deployed**: `sam build`'s Python builder installs packages without bytecode, and "
               "/var/task is read-only, so a Lambda compiles every module it imports at each cold start "
               "(bench/bench_cold_start.py's docstring). ApiFunction's handler import from its bundle and the "
               f"SharedLayer's built that way (pip `--no-compile`), median of {RUNS}: {deployed}."),
        order=10,
    )


def _measure(fid: str, spec: Any, sample: Path, env: Any, tracing: dict[str, str], baseline: float) -> dict[str, Any]:
    event = json.loads(sample.read_text())
    totals: list[float] = []
    inits: list[float] = []
    traced: list[float] = []
    errors = 0
    for _ in range(RUNS):
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
        "handler import x bare interpreter": median(inits) / baseline,
        "cold invocation ms (median)": median(totals),
        "x bare interpreter": median(totals) / baseline,
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
    """ApiFunction's handler import from bundles built as `sam build` builds them: without
    bytecode (what Lambda gets today), then with `unchecked-hash` bytecode. A sentence."""
    requirements = [ROOT / "shared" / "requirements.txt", ROOT / "functions" / "api" / "requirements.txt"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in requirements)).hexdigest()[:12]
    cache = ROOT / ".cache" / "coldstart-bundle" / key
    if not (cache / "done").exists():
        shutil.rmtree(cache, ignore_errors=True)
        for req, target in ((requirements[0], cache / "layer" / "python"), (requirements[1], cache / "function")):
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
                            str(target), "-r", str(req)], check=True, timeout=600)
        (cache / "done").write_text("")
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as tmp:
        layer, function = Path(tmp) / "layer" / "python", Path(tmp) / "function"
        shutil.copytree(cache / "layer" / "python", layer)
        shutil.copytree(cache / "function", function)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "shared" / "smartcourse", layer / "smartcourse", ignore=ignore)
        shutil.copytree(ROOT / "functions" / "api" / "chalicelib", function / "chalicelib", ignore=ignore)
        shutil.copy2(ROOT / "functions" / "api" / "app.py", function / "app.py")
        for leftover in [*layer.rglob("__pycache__"), *function.rglob("__pycache__")]:
            shutil.rmtree(leftover, ignore_errors=True)
        env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "POWERTOOLS_SERVICE_NAME": "api",
               "AWS_DEFAULT_REGION": "us-east-1"}

        def imports() -> float:
            return median([float(subprocess.run(
                [sys.executable, "-S", "-c", IMPORT_AS_DEPLOYED, str(function), str(layer)], env=env,
                capture_output=True, text=True, check=True, timeout=120).stdout) for _ in range(RUNS)])

        bare = imports()
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                        "unchecked-hash", str(function), str(layer)], check=True, capture_output=True, timeout=600)
        compiled = imports()
    return (f"{bare:.0f} ms without bytecode (how it ships today), {compiled:.0f} ms with `unchecked-hash` "
            f"bytecode ({compiled / bare:.2f}x)")
