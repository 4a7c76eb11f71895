"""Orchestrates one chaos run: private stack -> setup -> workload with faults -> settle -> counts."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.client import Client
from tests.chaos.faults import FaultRecord, Faults
from tests.chaos.stack import S3_RETRY_VISIBILITY_S, PrivateStack
from tests.chaos.verify import Report, count, settle
from tests.chaos.workload import Workload, as_dict

ALL_FAULTS = ("kill-certificates", "kill-ingest", "s3", "postgres", "kafka")


@dataclass
class ChaosOptions:
    events: int = 10_000
    uploads: int = 300
    courses: int = 8
    learner_threads: int = 6
    completion_rate: float = 0.5  # share of enrollments completed (-> course.completed -> a certificate)
    faults: tuple[str, ...] = ALL_FAULTS
    kafka_down_s: float = 10.0
    postgres_down_s: float = 3.0
    s3_down_s: float = 15.0
    kill_wait_s: float = 120.0
    settle_timeout_s: float = 900.0
    keep: bool = False
    seed: int = 8
    function_env: dict[str, str] = field(default_factory=dict)  # e.g. {"TRANSIENT_WAIT_S": "0"}
    #: The S3 outage outlasts every in-invocation wait and retry (dead letters expected); the
    #: reconciliation sweeps must still leave nothing lost (see `long_s3_outage`).
    long_s3_outage: bool = False


#: `--long-s3-outage`: S3 unreachable for longer than the S3 notification's 3 receives (60 s apart)
#: and the consumers' retries, with the waits shortened so they run out during it; the sweeps'
#: grace period shortened so they re-drive what was dead-lettered within the run.
LONG_S3_OUTAGE_S = 150.0
LONG_S3_OUTAGE_ENV = {"TRANSIENT_WAIT_S": "5", "SWEEP_GRACE_S": "30", "SWEEP_STUCK_AFTER_S": "60",
                      "SWEEP_BATCH": "200"}


def long_s3_outage(opts: ChaosOptions) -> ChaosOptions:
    """The long-S3-outage scenario: only the S3 fault, LONG_S3_OUTAGE_S (at least), short waits."""
    env = {**LONG_S3_OUTAGE_ENV, **opts.function_env}
    return ChaosOptions(**{**opts.__dict__, "faults": ("s3",), "s3_down_s": max(opts.s3_down_s, LONG_S3_OUTAGE_S),
                           "function_env": env, "long_s3_outage": True})


@dataclass
class ChaosResult:
    report: Report
    faults: list[FaultRecord]
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.report.ok


def _inject(faults: Faults, opts: ChaosOptions, workload: Workload, log: Callable[[str], None]) -> None:
    """One fault after the other, each not before its share of the workload has run."""
    plan: list[tuple[str, Callable[[], FaultRecord]]] = [
        # the kills first: they need batches and documents flowing; the broker (slow to restart
        # on a busy machine) last
        ("kill-certificates", lambda: faults.kill_certificates(opts.kill_wait_s)),
        ("kill-ingest", lambda: faults.kill_ingest(opts.kill_wait_s)),
        ("s3", lambda: faults.s3(opts.s3_down_s)),
        ("postgres", lambda: faults.postgres(opts.postgres_down_s)),
        ("kafka", lambda: faults.kafka(opts.kafka_down_s)),
    ]
    plan = [("control", faults.control), *(p for p in plan if p[0] in opts.faults)]
    try:
        _run_plan(plan, faults, workload, log)
    finally:
        workload.hold.clear()


def _run_plan(plan: list[tuple[str, Callable[[], FaultRecord]]], faults: Faults, workload: Workload,
              log: Callable[[str], None]) -> None:
    for i, (name, inject) in enumerate(plan):
        at = 0.1 + 0.7 * i / max(1, len(plan))
        while workload.progress() < at and not workload.done.is_set():
            time.sleep(0.2)
        log(f"  injecting {name} at {workload.progress():.0%} of the workload")
        try:
            inject()
        except Exception as exc:  # the run reports it
            rec = FaultRecord(name, faults.now(), faults.now(), f"injection failed: {type(exc).__name__}: {exc}",
                              landed=False)
            faults.records.append(rec)
            log(f"  fault {name} FAILED to inject: {exc}")


def run(opts: ChaosOptions, log: Callable[[str], None] = print) -> ChaosResult:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))  # short: the Postgres socket lives there
    stack = PrivateStack(workdir, function_env=dict(opts.function_env))
    report = Report()
    faults: Faults | None = None
    try:
        stack.start(log)
        client = Client(stack.api)
        workload = Workload(client, stack.database_url, events=opts.events, uploads=opts.uploads,
                            courses=opts.courses, learner_threads=opts.learner_threads, seed=opts.seed, log=log,
                            completion_rate=opts.completion_rate)
        workload.setup()
        log(f"setup: {opts.courses} published courses; workload: >= {opts.events} events, {opts.uploads} uploads; "
            f"faults: {', '.join(opts.faults)}")
        t0 = time.monotonic()
        faults = Faults(stack, t0, workload.result.uploads, log, recovery_timeout_s=opts.settle_timeout_s,
                        superseded_ok=opts.long_s3_outage)
        workload.hold.set()
        injector = threading.Thread(target=_inject, args=(faults, opts, workload, log), daemon=True)
        injector.start()
        result = workload.run()
        log(f"workload done in {result.finished_at - t0:.0f}s: {as_dict(result)}")
        injector.join()
        log("settling: waiting for the outbox to drain, the consumers to catch up and every upload to be indexed")
        settled, settle_s = settle(stack, [u.asset_id for u in result.uploads], timeout_s=opts.settle_timeout_s,
                                   log=log, superseded_ok=opts.long_s3_outage)
        faults.wait_recoveries()
        report.add("workload errors (client gave up or unexpected answer)", len(result.errors),
                   "; ".join(result.errors[:3]), must_be=0)
        report.add("system settled with no manual step", settled, f"in {settle_s:.0f}s after the workload",
                   must_be=True)
        count(stack, result, report, dead_letters_expected=opts.long_s3_outage)
        report.add("learners / enrollments / publishes", f"{result.learners} / {result.enrollments} / "
                   f"{result.publishes}")
        report.add("API calls / uploads sent", f"{client.calls['api']} / {client.calls['upload']}")
        report.add("client retries", sum(client.retries.values()),
                   ", ".join(f"{k}: {v}" for k, v in sorted(client.retries.items())) or "none")
        for rec in faults.records:
            if not rec.landed:
                report.problems.append(f"fault not injected: {rec.name}: {rec.detail}")
            elif rec.recovered_s is None:
                report.problems.append(f"no recovery after: {rec.name}")
        assert stack.runtime is not None
        for trig in stack.runtime.triggers:
            report.add(f"trigger {trig.name}: invocations / failed", f"{trig.invocations} / {trig.failures}")
        report.add("records a consumer retried in-invocation while a dependency was out",
                   _log_count(stack.workdir / "logs", "dependency unavailable: retrying the record"))
        report.add("S3 notifications retried in-invocation while a dependency was out",
                   _log_count(stack.workdir / "logs", "dependency unavailable: retrying the object"))
        for what, needle in (("uploads", "lost upload ingested by the sweeper"),
                             ("stuck documents marked failed", "interrupted document marked failed"),
                             ("versions made live", "published version made live by the sweeper"),
                             ("deletions applied", "asset deletion applied by the sweeper"),
                             ("certificates issued", "certificate issued by the sweeper")):
            report.add(f"reconciliation sweeps: {what}", _log_count(stack.workdir / "logs", needle))
        report.add("workload duration (s)", round(result.finished_at - t0))
        report.add("S3 notification retry delay (SQS visibility, s)", S3_RETRY_VISIBILITY_S)
    except Exception as exc:
        report.problems.append(f"the run failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        stack.stop()
        if opts.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return ChaosResult(report, faults.records if faults else [], time.monotonic() - started)


def _log_count(log_dir: Path, needle: str) -> int:
    return sum(p.read_text(errors="replace").count(needle) for p in log_dir.glob("*.log"))


def render(result: ChaosResult) -> str:
    out = ["| Count | Value | Note |", "|---|---|---|"]
    for what, value, note in result.report.rows:
        out.append(f"| {what} | {value} | {note} |")
    out += ["", "| Fault | Injected at (s) | Ended (s) | Detail | Recovery (s) |", "|---|---|---|---|---|"]
    for f in result.faults:
        rec = f"{f.recovered_s:.1f}" if f.recovered_s is not None else ("not injected" if not f.landed else "NONE")
        out.append(f"| {f.name} | {f.started:.1f} | {f.ended:.1f} | {f.detail} | {rec} |")
    out.append("")
    out.append(f"Result: {'PASS' if result.ok else 'FAIL'} in {result.wall_s:.0f}s wall clock")
    out += [f"- {p}" for p in result.report.problems]
    return "\n".join(out)
