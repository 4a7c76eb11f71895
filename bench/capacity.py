"""`make capacity` (issue 19): the capacity model of docs/scaling.md checked by simulation.

A LocalRuntime wired by template.yaml (every function, as `make load` runs them; 4 warm workers per
function, the relay's reserved concurrency 2) serves a private stage (its own database and topics) on
the running dev stack, or on a private one (bench.common.bench_env). The model is
bench/capacity_model.py; every input it gets is measured here, in the same run:

1. Set-up (not measured): an instructor publishes courses of text lessons; learners register.
2. Calibration (~50 s):
   - the machine: 2 x workers clients without pause for 8 s, everything running, then open-loop
     arrivals at 1.5 x the slowest stage of that for 8 s: X = the calls a second every stage kept up
     with meanwhile (the API's calls; each mapping's records / its events per call);
   - low load: open-loop arrivals at 0.1 X for 8 s: the API's service times, each consumer's small
     batches, commit -> consumer latency (the transit times: what the stage formulas leave out);
   - consumers: the same burst again with the MSK mappings held (a gate in the function pools' invoke
     listeners), then released one at a time: each drains alone in full batches; the batch time
     a + b n of each consumer by least squares over its low-load and drain invocations;
   - relay: in-process on a scratch database and topics (the function's code, `smartcourse.relay`):
     single-row passes (a + b) and a burst of 3,000 rows in passes of 500 (a + 500 b).
3. Windows: open-loop Poisson arrivals of learner operations (enrol, then complete each lesson; the
   last one completes the course, which issues a certificate) through the gateway at 0.25, 0.5, 0.8
   and 1.2 x the model's bottleneck capacity, 30 s each, then until everything is drained.
   Measured: API latency from each operation's scheduled time (so waiting in the client counts),
   commit -> consumer latency per consumer (its processed_events row's processed_at - the outbox
   row's created_at), every second the API backlog (due, not answered), the unpublished outbox rows
   and each mapping's consumer lag, and the CPU of the machine and of the stack's processes.
4. The model's prediction for each window beside the measurement, a verdict per row, and the model
   scaled to the 1M-learner load of docs/scaling.md; printed, and written between the markers of
   docs/scaling.md (unless --no-doc).

`python -m bench.capacity [--window 30] [--rates 0.25,0.5,0.8,1.2] [--workers 4] [--no-doc]`
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import queue
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import capacity_model as cm
from bench.bench_load import _ok, _user, start_runtime

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scaling.md"
BEGIN = "<!-- capacity:begin (written by `make capacity`; edits between these markers are overwritten) -->"
END = "<!-- capacity:end -->"

COURSES = 10
LESSONS = 20
CLIENT_THREADS = 16
TOLERANCE = 2.0  # latency: predicted / 2 <= measured <= predicted x 2
LATENCY_FLOOR_S = 0.005  # below 5 ms either way is not a disagreement
RELAY_BURST = 3_000
RELAY_SINGLE_PASSES = 15
LEARNERS = 24  # at first; more after the calibration if the windows need them
CONFIGURED_PARTITIONS = {"enrollment": 6}  # config/kafka-topics.yaml; the others 3
RELAY_PICKUP = "relay pick-up"
#: the consumer whose commit -> consumer latency the main table shows (it reads every event type)
HEADLINE = "AnalyticsFunction"
#: where each consumer records what it processed (smartcourse.consumer's ledger), by function
LEDGERS = {
    "AnalyticsFunction": "analytics",
    "NotificationsFunction": "notify",
    "CertificatesFunction": "lms",
    "IngestFunction": "ai",
}
#: docs/scaling.md's load: events/s and the share of events per topic
SUSTAINED, PEAK = 200.0, 2_000.0
TOPIC_SHARE = {"enrollment": 0.85, "course": 0.05, "asset": 0.03, "certificate": 0.05, "user": 0.02}
LAMBDA_MB_PER_VCPU = 1_769


def log(msg: str) -> None:
    print(f"capacity: {msg}", flush=True)


# --- learners and their operations ---------------------------------------------------------------


@dataclass
class Learner:
    token: str
    courses: list[tuple[str, tuple[str, ...]]]  # (course id, lesson ids) not yet enrolled in
    enrollment: str | None = None
    todo: list[str] = field(default_factory=list)

    def has_work(self) -> bool:
        return bool(self.todo or self.courses)


@dataclass
class Op:
    scheduled: float  # time.monotonic() the operation was due
    started: float
    done: float
    kind: str
    ok: bool


class Errors:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[str] = []

    def add(self, what: str) -> None:
        with self.lock:
            self.items.append(what[:300])


def step(http: httpx.Client, learner: Learner, errors: Errors) -> tuple[str, bool]:
    """The learner's next operation through the API: enrol in the next course, or complete the next lesson."""
    headers = {"Authorization": f"Bearer {learner.token}"}
    try:
        if not learner.todo:
            course_id, lessons = learner.courses.pop(0)
            resp = http.post(f"/courses/{course_id}/enrollments", headers=headers)
            if resp.status_code != 201:
                errors.add(f"enrol: {resp.status_code} {resp.text}")
                return "enrol", False
            learner.enrollment = resp.json()["id"]
            learner.todo = list(lessons)
            return "enrol", True
        lesson = learner.todo[0]
        resp = http.put(
            f"/enrollments/{learner.enrollment}/lessons/{lesson}/progress",
            headers=headers,
            json={"status": "completed"},
        )
        if resp.status_code != 200:
            errors.add(f"progress: {resp.status_code} {resp.text}")
            return "complete", False
        learner.todo.pop(0)
        return "complete", True
    except httpx.HTTPError as exc:
        errors.add(f"transport: {type(exc).__name__}: {exc}")
        return "transport", False


class Driver:
    """Learner operations through the gateway: closed loops (calibration) and open-loop arrivals
    (the windows). A learner does one operation at a time; idle learners wait in `free`."""

    def __init__(self, base_url: str, learners: list[Learner]) -> None:
        self.base_url = base_url
        self.free: queue.Queue[Learner] = queue.Queue()
        for learner in learners:
            self.free.put(learner)
        self.errors = Errors()
        self.lock = threading.Lock()
        self.arrived = 0  # open loop: arrivals due so far (for the backlog)
        self.completed = 0
        self.exhausted = 0  # operations skipped because no learner had work left
        self._arrivals: list[float] = []

    def add_learners(self, learners: list[Learner]) -> None:
        for learner in learners:
            self.free.put(learner)

    def _take(self) -> Learner | None:
        while True:
            try:
                learner = self.free.get(timeout=5)
            except queue.Empty:
                return None
            if learner.has_work():
                return learner

    def _one(self, http: httpx.Client, scheduled: float) -> Op | None:
        learner = self._take()
        if learner is None:
            with self.lock:
                self.exhausted += 1
            return None
        started = time.monotonic()
        kind, ok = step(http, learner, self.errors)
        done = time.monotonic()
        if ok:
            self.free.put(learner)  # a learner whose call failed is in an unknown state: retired
        return Op(scheduled, started, done, kind, ok)

    def closed(self, clients: int, seconds: float, pause_s: float = 0.0) -> list[Op]:
        ops: list[Op] = []
        deadline = time.monotonic() + seconds

        def client() -> None:
            with httpx.Client(base_url=self.base_url, timeout=120) as http:
                while time.monotonic() < deadline:
                    op = self._one(http, time.monotonic())
                    if op is None:
                        return
                    with self.lock:
                        ops.append(op)
                    if pause_s:
                        time.sleep(pause_s)

        threads = [threading.Thread(target=client, name=f"closed-{i}") for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return ops

    def open_loop(self, rate: float, seconds: float, rng: random.Random) -> tuple[list[Op], float]:
        """Poisson arrivals at `rate` for `seconds`, served by up to CLIENT_THREADS connections; returns
        every arrival's operation (run until all are answered) and the monotonic start time."""
        start = time.monotonic() + 0.2
        arrivals, t = [], 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= seconds:
                break
            arrivals.append(start + t)
        with self.lock:
            self._arrivals = arrivals
            self.completed = 0
        ops: list[Op] = []
        index = iter(range(len(arrivals)))

        def client() -> None:
            with httpx.Client(base_url=self.base_url, timeout=120) as http:
                while True:
                    with self.lock:
                        i = next(index, None)
                    if i is None:
                        return
                    due = arrivals[i]
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    op = self._one(http, due)
                    with self.lock:
                        self.completed += 1
                        if op is not None:
                            ops.append(op)

        threads = [threading.Thread(target=client, name=f"open-{i}") for i in range(CLIENT_THREADS)]
        for t_ in threads:
            t_.start()
        for t_ in threads:
            t_.join()
        return ops, start

    def backlog(self, now: float) -> int:
        """Operations due by `now` and not answered yet (open loop)."""
        with self.lock:
            due = sum(1 for a in self._arrivals if a <= now)
            return max(0, due - self.completed)


# --- set-up --------------------------------------------------------------------------------------


def make_courses(base_url: str, courses: int, lessons: int) -> list[tuple[str, tuple[str, ...]]]:
    with httpx.Client(base_url=base_url, timeout=120) as http:
        token = _user(http, "instructor", "Dr. Grace Hopper")
    made: list[tuple[str, tuple[str, ...]]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            course = {"title": f"Capacity course {i}", "description": "Lessons"}
            cid = _ok(http.post("/courses", json=course), 201)["id"]
            module = _ok(http.post(f"/courses/{cid}/modules", json={"title": "Week 1"}), 201)["id"]
            for k in range(lessons):
                _ok(
                    http.post(
                        f"/courses/{cid}/modules/{module}/lessons",
                        json={"title": f"Lesson {k + 1}", "kind": "text", "body": f"Lesson {k + 1}."},
                    ),
                    201,
                )
            _ok(http.post(f"/courses/{cid}/publish"), 201)
            detail = _ok(http.get(f"/courses/{cid}"))
            ids = tuple(lesson["id"] for m in detail["modules"] for lesson in m["lessons"])
            with lock:
                made.append((cid, ids))

    _parallel(one, courses, 4)
    return sorted(made)


def make_learners(base_url: str, n: int, courses: list[tuple[str, tuple[str, ...]]]) -> list[Learner]:
    out: list[Learner] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as http:
            token = _user(http, "student", f"Learner {i}")
        order = courses[i % len(courses) :] + courses[: i % len(courses)]  # spread the courses' hot rows
        with lock:
            out.append(Learner(token, list(order)))

    _parallel(one, n, 8)
    return out


def _parallel(fn: Callable[[int], None], n: int, threads: int) -> None:
    todo = iter(range(n))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                fn(i)
            except BaseException as exc:  # reported after the join
                failures.append(exc)
                return

    ts = [threading.Thread(target=worker) for _ in range(min(threads, n))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        raise failures[0]


# --- what the functions do: invocations, gates, lag, CPU -----------------------------------------


class Invocations:
    """Every MSK-triggered invocation's (start, end, records) per function, from the pools' invoke
    listeners. `hold(fid)` makes that function's listener wait before each invocation (its mapping
    stops taking records, so a backlog builds in Kafka) until `release(fid)`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, list[tuple[float, float, int]]] = {}
        self._open: dict[tuple[str, int], tuple[float, int]] = {}
        self._gates: dict[str, threading.Event] = {}

    def attach(self, runtime: Any) -> None:
        for fid, pool in runtime.pools.items():
            if pool.spec.msk_events:
                self.records[fid] = []
                self._gates[fid] = threading.Event()
                self._gates[fid].set()
                pool.listeners.append(lambda phase, pid, event, fid=fid: self._on(fid, phase, pid, event))

    def hold(self, fid: str | None = None) -> None:
        for name, gate in self._gates.items():
            if fid in (None, name):
                gate.clear()

    def release(self, fid: str | None = None) -> None:
        for name, gate in self._gates.items():
            if fid in (None, name):
                gate.set()

    def _on(self, fid: str, phase: str, pid: int, event: Any) -> None:
        if not (isinstance(event, dict) and event.get("eventSource") == "aws:kafka"):
            return
        if phase == "start":
            self._gates[fid].wait()
            n = sum(len(v) for v in event.get("records", {}).values())
            with self.lock:
                self._open[(fid, pid)] = (time.monotonic(), n)
        else:
            with self.lock:
                opened = self._open.pop((fid, pid), None)
                if opened is not None:
                    self.records[fid].append((opened[0], time.monotonic(), opened[1]))

    def between(self, fid: str, t0: float, t1: float) -> list[tuple[int, float]]:
        with self.lock:
            return [(n, end - start) for start, end, n in self.records.get(fid, []) if t0 <= start < t1]


def cpu_busy_s() -> float:
    """CPU seconds the machine has been busy (every core, every process: /proc/stat minus idle and iowait)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def background(stack: StackCpu, seconds: float = 3.0) -> Meter:
    """The machine while the stack idles (nothing driven): other processes' cores (`other_cores`) and
    the stack's idle polling (`stack_cores`)."""
    with Meter(stack) as m:
        time.sleep(seconds)
    return m


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (every thread), seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids_running(needle: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if needle.encode() in fh.read():
                        out.append(int(entry))
            except OSError:
                continue
    return out


class StackCpu:
    """CPU seconds used by the stack's own processes, by group: this process (the gateway, the MSK
    pollers, the load driver), each function's workers, the Postgres backends of the stage's
    database, the Kafka broker and moto. The rest of the machine's busy time is other work."""

    def __init__(self, runtime: Any, database_url: str) -> None:
        import psycopg

        self.runtime = runtime
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.shared = {"kafka": _pids_running("kafka.Kafka"), "moto": _pids_running("moto.server")}
        self.lock = threading.Lock()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def groups(self) -> dict[str, list[int]]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        out = {"driver+gateway": [os.getpid()], "postgres": [int(r[0]) for r in rows], **self.shared}
        for fid, pool in self.runtime.pools.items():
            pids = [w.proc.pid for w in list(pool._all)]
            if pids:
                out[short(fid)] = pids
        return out

    def snapshot(self) -> dict[int, tuple[str, float]]:
        return {pid: (g, _proc_cpu_s(pid)) for g, pids in self.groups().items() for pid in pids}

    @staticmethod
    def used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
        """CPU seconds per group between two snapshots (a process that appeared counts from 0)."""
        out: dict[str, float] = {}
        for pid, (group, cpu) in after.items():
            out[group] = out.get(group, 0.0) + cpu - (before[pid][1] if pid in before else 0.0)
        return out


class Meter:
    """Cores busy over an interval, the machine's and (given a StackCpu) the stack's by group:
    `with Meter(stack) as m: ...` then m.cores, m.stack_cores, m.groups (CPU seconds), m.seconds."""

    def __init__(self, stack: StackCpu | None = None) -> None:
        self.stack = stack
        self.groups: dict[str, float] = {}
        self.stack_cores = 0.0

    def __enter__(self) -> Meter:
        self.before = self.stack.snapshot() if self.stack else {}
        self.t0, self.c0 = time.monotonic(), cpu_busy_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.t0
        self.cores = (cpu_busy_s() - self.c0) / max(1e-9, self.seconds)
        if self.stack is not None:
            self.groups = StackCpu.used(self.before, self.stack.snapshot())
            self.stack_cores = sum(self.groups.values()) / max(1e-9, self.seconds)

    @property
    def other_cores(self) -> float:
        """Cores busy with work that is not the stack's."""
        return max(0.0, self.cores - self.stack_cores)


class Probe:
    """Backlog now: unpublished outbox rows and each mapping's consumer lag (end offset - committed)."""

    def __init__(self, database_url: str, bootstrap: str, groups: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        import psycopg
        from kafka import KafkaAdminClient, KafkaConsumer

        self.conn = psycopg.connect(database_url, autocommit=True)
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-capacity")
        self.kafka = KafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-capacity")
        self.groups = groups  # function -> (group id, topics)
        self._parts: dict[str, list[Any]] = {}
        self.lock = threading.Lock()

    def close(self) -> None:
        for closer in (self.conn.close, self.admin.close, self.kafka.close):
            with contextlib.suppress(Exception):
                closer()

    def outbox(self) -> int:
        with self.lock:
            row = self.conn.execute(
                "SELECT count(*) FROM lms.outbox WHERE published_at IS NULL AND parked_at IS NULL"
            ).fetchone()
        return int(row[0]) if row else 0

    def _partitions(self, topic: str) -> list[Any]:
        from kafka import TopicPartition

        if topic not in self._parts:
            found = self.kafka.partitions_for_topic(topic) or ()
            self._parts[topic] = [TopicPartition(topic, p) for p in sorted(found)]
        return self._parts[topic]

    def positions(self) -> dict[str, int]:
        """Each mapping's committed offsets summed over its partitions (the records it has done)."""
        with self.lock:
            parts = list({tp for _, topics in self.groups.values() for t in topics for tp in self._partitions(t)})
            starts = self.kafka.beginning_offsets(parts)
            out = {}
            for fid, (group, topics) in self.groups.items():
                committed = self.admin.list_group_offsets({group: None}).get(group, {})
                out[fid] = sum(
                    c.offset if (c := committed.get(tp)) is not None and c.offset >= 0 else starts[tp]
                    for t in set(topics)
                    for tp in self._partitions(t)
                )
            return out

    def lags(self) -> dict[str, int]:
        with self.lock:
            parts = list({tp for _, topics in self.groups.values() for t in topics for tp in self._partitions(t)})
            ends = self.kafka.end_offsets(parts)
            starts = self.kafka.beginning_offsets(parts)
            out = {}
            for fid, (group, topics) in self.groups.items():
                committed = self.admin.list_group_offsets({group: None}).get(group, {})
                total = 0
                for t in set(topics):
                    for tp in self._partitions(t):
                        c = committed.get(tp)
                        total += ends[tp] - (c.offset if c is not None and c.offset >= 0 else starts[tp])
                out[fid] = total
            return out


@dataclass
class Sample:
    t: float  # seconds since the window started
    api: int
    outbox: int
    lags: dict[str, int]


class Sampler(threading.Thread):
    def __init__(self, probe: Probe, driver: Driver, t0: float, period_s: float = 1.0) -> None:
        super().__init__(name="capacity-sampler", daemon=True)
        self.probe, self.driver, self.t0, self.period_s = probe, driver, t0, period_s
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def take(self) -> Sample:
        now = time.monotonic()
        return Sample(now - self.t0, self.driver.backlog(now), self.probe.outbox(), self.probe.lags())

    def run(self) -> None:
        while not self.stopping.wait(self.period_s):
            with contextlib.suppress(Exception):
                self.samples.append(self.take())


def wait_drained(probe: Probe, timeout_s: float, only: str | None = None) -> tuple[bool, float]:
    """Until the outbox is empty and every mapping's lag (or only `only`'s) is 0."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        lags = probe.lags()
        if probe.outbox() == 0 and not (lags.get(only, 0) if only else any(lags.values())):
            return True, time.monotonic() - started
        time.sleep(0.25)
    return False, time.monotonic() - started


# --- the database's view: events and commit -> consumer latency ----------------------------------


def events_by_topic(database_url: str, t0: float, t1: float) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT aggregate_type, count(*) FROM lms.outbox WHERE created_at >= to_timestamp(%s) "
            "AND created_at < to_timestamp(%s) GROUP BY 1",
            (t0, t1),
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def consumer_latencies(database_url: str, t0: float, t1: float) -> dict[str, list[float]]:
    """Seconds from the outbox row's commit (created_at) to each consumer's processed_events row,
    for the events created between the wall-clock times t0 and t1; "relay pick-up": to the relay
    pass that published it (published_at is that pass's transaction start)."""
    import psycopg

    out: dict[str, list[float]] = {}
    with psycopg.connect(database_url) as conn:
        for fid, schema in LEDGERS.items():
            rows = conn.execute(
                f"SELECT extract(epoch FROM p.processed_at - o.created_at)::float8 FROM {schema}.processed_events p "
                "JOIN lms.outbox o ON o.id = p.event_id "
                "WHERE o.created_at >= to_timestamp(%s) AND o.created_at < to_timestamp(%s)",
                (t0, t1),
            ).fetchall()
            if rows:
                out[fid] = [float(r[0]) for r in rows]
        rows = conn.execute(
            "SELECT extract(epoch FROM published_at - created_at)::float8 FROM lms.outbox "
            "WHERE published_at IS NOT NULL AND created_at >= to_timestamp(%s) "
            "AND created_at < to_timestamp(%s)",
            (t0, t1),
        ).fetchall()
        if rows:
            out[RELAY_PICKUP] = [float(r[0]) for r in rows]
    return out


# --- relay calibration (in-process, scratch database and topics) ---------------------------------


def calibrate_relay(admin_url: str, database_url_of: Callable[[str], str], bootstrap: str) -> dict[str, float]:
    """Single-row passes (a + b) and a burst drained in passes of 500 (per pass a + 500 b), through
    `smartcourse.relay.Relay` as OutboxRelayFunction builds it, on a scratch database and topics."""
    import psycopg
    from kafka import KafkaAdminClient

    from devstack.postgres import drop_database, ensure_database
    from devstack.provision import ensure_topics, topic_specs
    from smartcourse import migrate
    from smartcourse.db import Database
    from smartcourse.events import new_event
    from smartcourse.observability import logger
    from smartcourse.outbox import write_event
    from smartcourse.relay import Relay, RelaySettings

    name = f"sc_caprelay{secrets.token_hex(3)}"
    prefix = f"smartcourse.caprelay{secrets.token_hex(3)}"
    specs = topic_specs(prefix)
    ensure_database(admin_url, name)
    url = database_url_of(name)
    level = logger.log_level
    logger.setLevel("WARNING")  # one "event published" line per event otherwise
    relay = None
    try:
        migrate.apply(url)
        ensure_topics(bootstrap, specs)
        settings = RelaySettings(
            database_url=url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            kafka_security_protocol="PLAINTEXT",
        )
        relay = Relay(settings, Database(url), second_database=Database(url))
        pad = "x" * 300  # an envelope about the size of lesson.completed's
        aggs = [str(uuid.uuid4()) for _ in range(500)]
        singles = []
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(2):  # connect, fetch metadata
                write_event(conn, new_event("course.capacity_probe", aggs[i], {"i": i, "pad": pad}))
                relay.run_once()
            with Meter() as single_meter:
                for i in range(RELAY_SINGLE_PASSES):
                    write_event(conn, new_event("course.capacity_probe", aggs[i], {"i": i, "pad": pad}))
                    t = time.perf_counter()
                    relay.run_once()
                    singles.append(time.perf_counter() - t)
            with conn.transaction():
                for i in range(RELAY_BURST):
                    write_event(conn, new_event("course.capacity_probe", aggs[i % len(aggs)], {"i": i, "pad": pad}))
        with Meter() as burst_meter:
            stats = relay.drain()
        one = statistics.median(singles)
        per_pass = burst_meter.seconds / max(1, stats.passes - 1)  # the last pass finds nothing
        batch = settings.relay_batch_size
        return {
            "single_s": one,
            "single_cores": single_meter.cores,
            "per_pass_s": per_pass,
            "burst_cores": burst_meter.cores,
            "batch": float(batch),
            "burst_events_per_s": stats.published / burst_meter.seconds,
            "burst_events": float(stats.published),
            "passes": float(stats.passes),
        }
    finally:
        logger.setLevel(level)
        if relay is not None:
            relay.close()
        with contextlib.suppress(Exception):
            drop_database(admin_url, name)
        with contextlib.suppress(Exception):
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-capacity")
            admin.delete_topics([s.name for s in specs])
            admin.close()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Phase:
    """A calibration phase: operations, seconds, cores busy (the whole machine)."""

    name: str
    ops: int
    seconds: float
    cores: float  # the machine's cores busy (what the stretch depends on)
    start: float = 0.0  # monotonic
    end: float = 0.0
    lag: int = 0  # the largest consumer lag when the calls stopped
    drain_s: float = 0.0  # after the calls, until everything they set off was done
    other_cores: float = 0.0  # cores busy with work that is not the stack's, over calls and drain
    consumed: dict[str, int] = field(default_factory=dict)  # records each mapping did while the calls ran
    stack_cores: float = 0.0  # cores the stack's processes used while the calls ran

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


@dataclass
class Calibration:
    cores: int
    background: float  # other work's cores before calibration (the stack idle): context
    api_low: list[float]  # seconds, one client with pauses
    phases: dict[str, Phase]
    relay: dict[str, float]
    drains: dict[str, Phase]  # fid -> its solo drain of the held backlog
    invocations: dict[str, list[tuple[int, float, float]]]  # fid -> (n, seconds, stretch at the time)
    consumer_fits: dict[str, tuple[float, float, int, int]]  # fid -> base (a, b), invocations, largest batch
    events_per_op: float
    topic_per_op: dict[str, float]
    transit: dict[str, tuple[float, float]] = field(default_factory=dict)  # fid -> (p50, p95) residual
    low_latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # measured (p50, p95) at low load
    sat_rate: float = 0.0  # closed-loop saturation throughput, everything running
    sustained: dict[str, float] = field(default_factory=dict)  # calls/s each stage kept up with at 1.5 x X0
    first: dict[str, float] = field(default_factory=dict)  # the same, flat out (closed loop)
    seconds: float = 0.0

    @property
    def machine_capacity(self) -> float:
        return min(self.sustained.values())


@dataclass
class Window:
    factor: float
    offered: float
    arrived: float
    ops: int
    prediction: cm.Prediction
    cores: float  # measured, the whole machine, during the window
    stack_cores: float  # measured, the stack's processes
    groups: dict[str, float]  # cores by process group
    api_p50: float
    api_p95: float
    latencies: dict[str, list[float]]
    end: Sample
    samples: list[Sample]
    drained: bool
    drain_s: float
    exhausted: int


@dataclass
class Run:
    stage: str
    workers: int
    window_s: float
    model: cm.PipelineModel
    calibration: Calibration
    windows: list[Window]
    consumers: dict[str, Any]  # fid -> FunctionSpec
    errors: list[str]
    setup_s: float
    seconds: float = 0.0


def consumer_topics(spec: Any, prefix: str) -> tuple[str, ...]:
    return tuple(t[len(prefix) + 1 :] for ev in spec.msk_events for t in ev.topics if t.startswith(prefix + "."))


def build_model(workers: int, cal: Calibration, consumers: dict[str, Any], prefix: str) -> cm.PipelineModel:
    """The model from the calibration: the machine's measured capacity; the API's and the consumers'
    low-load times divided by the machine's stretch at the low-load rate (base times); the solo
    drains and the relay (nothing else running) as they are."""
    low = cal.phases["low"]
    machine = cm.Machine(cal.cores, cal.machine_capacity)
    s_low = machine.stretch(low.rate)
    base_api = [x / s_low for x in cal.api_low]
    api = cm.ApiStage(workers, statistics.fmean(base_api), tuple(base_api))
    r = cal.relay
    batch = int(r["batch"])
    mean_batch = r["burst_events"] / max(1.0, r["passes"] - 1)  # passes hold back aggregates in flight
    b_r = max(0.0, (r["per_pass_s"] - r["single_s"]) / max(1.0, mean_batch - 1))
    relay = cm.BatchStage("OutboxRelayFunction", max(0.0, r["single_s"] - b_r), b_r, batch)
    cons = {}
    for fid, spec in consumers.items():
        if fid not in cal.consumer_fits:
            continue
        a, b, _, _ = cal.consumer_fits[fid]
        per_op = sum(cal.topic_per_op.get(t, 0.0) for t in set(consumer_topics(spec, prefix)))
        size = max(ev.batch_size for ev in spec.msk_events)
        t50, t95 = cal.transit.get(fid, (0.0, 0.0))
        cons[fid] = cm.Consumer(cm.BatchStage(fid, a, b, size), per_op, t50, t95)
    return cm.PipelineModel(api, relay, cal.events_per_op, cons, machine)


def calibrate(
    driver: Driver,
    inv: Invocations,
    probe: Probe,
    stack: StackCpu,
    env: Any,
    consumers: dict[str, Any],
    workers: int,
    prefix: str,
) -> tuple[Calibration, cm.PipelineModel]:
    t_start = time.monotonic()
    cores = os.cpu_count() or 1
    log("calibration: other work's CPU, the stack idle (3 s)")
    bg = background(stack).other_cores
    phases: dict[str, Phase] = {}
    wall0 = time.time()

    def phase(name: str, clients: int, seconds: float, pause_s: float = 0.0, rate: float | None = None) -> list[Op]:
        """Closed-loop calls (open-loop ones at `rate`), then until everything they set off is done."""
        with Meter(stack) as m:
            before = probe.positions()
            with Meter(stack) as calls:
                start = time.monotonic()
                ops = (
                    driver.closed(clients, seconds, pause_s)
                    if rate is None
                    else driver.open_loop(rate, seconds, random.Random(7))[0]
                )
                end = time.monotonic()
            after = probe.positions()
            lag = max(probe.lags().values(), default=0)
            _, drain_s = wait_drained(probe, 90)
        phases[name] = Phase(
            name,
            len(ops),
            end - start,
            m.cores,
            start,
            end,
            lag,
            drain_s,
            m.other_cores,
            {fid: after[fid] - before[fid] for fid in after},
            calls.stack_cores,
        )
        return ops

    log(f"calibration: saturation ({2 * workers} clients, 8 s, everything running), then its drain")
    sat = phase("saturation", 2 * workers, 8.0)
    p = phases["saturation"]
    sat_ok = [o for o in sat if o.ok and o.done >= p.start + 2.0]  # the first 2 s fill the pool
    sat_rate = len(sat_ok) / max(1e-9, p.end - (p.start + 2.0))
    # the machine: what every stage sustains while all of them run, i.e. the API's calls a second and
    # each mapping's records a second while the calls ran, in calls (records / events per call)
    per_topic = {t: n / len(sat) for t, n in events_by_topic(env.database_url, wall0, time.time()).items()}

    def sustained_in(ph: Phase, api_rate: float) -> dict[str, float]:
        out = {"api": api_rate}
        for fid, done in ph.consumed.items():
            per_call = sum(per_topic.get(t, 0.0) for t in set(consumer_topics(consumers[fid], prefix)))
            if per_call > 0 and done > 0:
                out[fid] = done / ph.seconds / per_call
        return out

    first = sustained_in(p, sat_rate)
    x0 = min(first.values())
    # flat out, the API runs at twice what the consumers keep up with and takes their CPU: measure
    # again while offering 1.5 x that, nearer the conditions of a window just above capacity
    log(f"calibration: open loop at 1.5 x {x0:.1f} calls/s (8 s), then its drain: the sustained capacity")
    over = phase("overload", 0, 8.0, rate=1.5 * x0)
    sustained = sustained_in(phases["overload"], len(over) / phases["overload"].seconds)
    x = min(sustained.values())
    log(f"calibration: low load, open loop at 0.1 x {x:.1f} calls/s (8 s)")
    wall_low = time.time()
    low = phase("low", 0, 8.0, rate=0.1 * x)
    wall_low_end = time.time()
    log("calibration: the same with every MSK mapping held (6 s), then each released alone: full batches")
    inv.hold()
    held = driver.closed(2 * workers, 6.0)
    deadline = time.monotonic() + 30
    while probe.outbox() and time.monotonic() < deadline:
        time.sleep(0.2)
    drains: dict[str, Phase] = {}
    for fid in sorted(consumers):
        with Meter(stack) as m:
            start = time.monotonic()
            inv.release(fid)
            ok, _ = wait_drained(probe, 60, only=fid)
            end = time.monotonic()
        drains[fid] = Phase(fid, 0, end - start, m.cores, start, end, other_cores=m.other_cores)
        if not ok:
            log(f"calibration: WARNING {fid} did not drain its held backlog in 60 s")
    inv.release()
    wait_drained(probe, 60)
    wall4 = time.time()
    ops = len(low) + len(sat) + len(over) + len(held)
    topics = events_by_topic(env.database_url, wall0, wall4)
    topics_per_op = {t: n / ops for t, n in topics.items()}
    log("calibration: relay in-process (scratch database and topics)")
    relay = calibrate_relay(
        env.endpoints.admin_database_url, env.endpoints.database_url, env.endpoints.kafka_bootstrap_servers
    )
    # every consumer invocation of the low-load phase (divided by the machine's stretch then) and of its solo drain
    low_p = phases["low"]
    s_low = cm.Machine(cores, x).stretch(low_p.rate)
    invocations: dict[str, list[tuple[int, float, float]]] = {}
    fits = {}
    for fid in consumers:
        calls = [(n, d, s_low) for n, d in inv.between(fid, low_p.start, low_p.end + low_p.drain_s)]
        if fid in drains:
            calls += [(n, dur, 1.0) for n, dur in inv.between(fid, drains[fid].start, drains[fid].end)]
        if calls:
            invocations[fid] = calls
            a, b = cm.fit_batch_times([(n, dur / st) for n, dur, st in calls])
            fits[fid] = (a, b, len(calls), max(n for n, _, _ in calls))
    cal = Calibration(
        cores,
        bg,
        [o.done - o.started for o in low if o.ok],
        phases,
        relay,
        drains,
        invocations,
        fits,
        sum(topics.values()) / ops,
        topics_per_op,
        sat_rate=sat_rate,
        sustained=sustained,
        first=first,
    )
    cal.low_latency = {
        f: (statistics.median(v), pct(v, 95))
        for f, v in consumer_latencies(env.database_url, wall_low, wall_low_end).items()
    }
    # transit: what the stages' formulas do not explain at low load (LISTEN wake-up, Kafka fetch, dispatch, ...)
    model = build_model(workers, cal, consumers, prefix)
    at_low = cm.predict(model, phases["low"].rate, 6.0)
    for fid, (m50, m95) in cal.low_latency.items():
        if fid in at_low.paths:
            path = at_low.paths[fid]
            cal.transit[fid] = (
                max(0.0, m50 - path.p50_s) / at_low.stretch,
                max(0.0, m95 - path.p95_s) / at_low.stretch,
            )
    cal.seconds = time.monotonic() - t_start
    return cal, build_model(workers, cal, consumers, prefix)


def run_window(
    driver: Driver,
    probe: Probe,
    stack: StackCpu,
    env: Any,
    cal: Calibration,
    consumers: dict[str, Any],
    workers: int,
    prefix: str,
    factor: float,
    rate: float,
    window_s: float,
    seed: int,
) -> Window:
    model = build_model(workers, cal, consumers, prefix)
    prediction = cm.predict(model, rate, window_s)
    wall0 = time.time()
    t0 = time.monotonic()
    sampler = Sampler(probe, driver, t0)
    sampler.start()
    marks: dict[str, Any] = {}

    def at_end() -> None:
        with Meter(stack) as m:
            time.sleep(max(0.0, t0 + 0.2 + window_s - time.monotonic()))
            with contextlib.suppress(Exception):
                marks["end"] = sampler.take()
        marks["meter"] = m

    marker = threading.Thread(target=at_end, daemon=True)
    marker.start()
    exhausted0 = driver.exhausted
    ops, _ = driver.open_loop(rate, window_s, random.Random(seed))
    marker.join()
    sampler.stopping.set()
    sampler.join(5)
    drained, drain_s = wait_drained(probe, 120)
    time.sleep(0.5)
    lat = consumer_latencies(env.database_url, wall0, time.time())
    api = [o.done - o.scheduled for o in ops if o.ok]
    in_window = [s for s in sampler.samples if s.t <= window_s + 0.2]
    end = marks.get("end") or (in_window[-1] if in_window else Sample(0, 0, 0, {}))
    m: Meter = marks["meter"]
    return Window(
        factor,
        rate,
        len(ops) / window_s,
        len(ops),
        prediction,
        m.cores,
        m.stack_cores,
        {g: c / m.seconds for g, c in m.groups.items()},
        statistics.median(api) if api else math.nan,
        pct(api, 95),
        lat,
        end,
        in_window,
        drained,
        drain_s,
        driver.exhausted - exhausted0,
    )


def pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))]


def run(window_s: float, factors: list[float], workers: int) -> Run:
    from bench.common import bench_env
    from devstack.postgres import drop_database
    from devstack.stack import aws_clients

    started = time.monotonic()
    stage = "cap" + secrets.token_hex(3)
    prefix = f"smartcourse.{stage}"
    log_dir = Path(tempfile.gettempdir()) / f"smartcourse-{stage}"
    log(f"stage {stage}; function logs in {log_dir}")
    with bench_env(stage) as env:
        _, sqs = aws_clients(env.endpoints.aws_endpoint_url)
        runtime = start_runtime(
            env.template,
            env.function_env(),
            stage=stage,
            kafka_bootstrap=env.endpoints.kafka_bootstrap_servers,
            sqs=sqs,
            queues=env.queues,
            workers=workers,
            schedule_rate_s=None,
            log_dir=log_dir,
        )
        probe = None
        try:
            if not runtime.wait_for_consumers(120):
                raise RuntimeError("the MSK mappings' consumers got no partitions")
            consumers = {fid: spec for fid, spec in env.template.functions.items() if spec.msk_events}
            groups = {
                fid: (spec.msk_events[0].consumer_group_id, tuple(t for e in spec.msk_events for t in e.topics))
                for fid, spec in consumers.items()
            }
            inv = Invocations()
            inv.attach(runtime)
            assert runtime.gateway is not None
            url = runtime.gateway.url
            log(f"set-up: {COURSES} courses x {LESSONS} lessons, {LEARNERS} learners")
            courses = make_courses(url, COURSES, LESSONS)
            driver = Driver(url, make_learners(url, LEARNERS, courses))
            probe = Probe(env.database_url, env.endpoints.kafka_bootstrap_servers, groups)
            stack = StackCpu(runtime, env.database_url)
            wait_drained(probe, 60)
            setup_s = time.monotonic() - started
            cal, model = calibrate(driver, inv, probe, stack, env, consumers, workers, prefix)
            name, cap = model.bottleneck()
            log(
                f"calibrated in {cal.seconds:.0f} s: bottleneck {name} at {cap:.1f} calls/s "
                f"(closed-loop saturation measured {cal.sat_rate:.1f}/s)"
            )
            need = sum(f * cap * window_s for f in factors) * 1.3
            have = sum(len(lr.todo) + sum(len(ls) + 1 for _, ls in lr.courses) for lr in list(driver.free.queue))
            if need > have:
                extra = math.ceil((need - have) / (COURSES * (LESSONS + 1)))
                log(f"set-up: {extra} more learners for the windows")
                driver.add_learners(make_learners(url, extra, courses))
                wait_drained(probe, 60)
            windows = []
            for i, f in enumerate(factors):
                rate = f * cap
                log(f"window {i + 1}/{len(factors)}: {f:g} x {cap:.1f} = {rate:.1f} calls/s for {window_s:g} s")
                w = run_window(driver, probe, stack, env, cal, consumers, workers, prefix, f, rate, window_s, 1000 + i)
                windows.append(w)
                log(
                    f"  API p95 {w.api_p95 * 1000:.0f} ms; backlog at the end: API {w.end.api}, outbox "
                    f"{w.end.outbox}, largest lag {max(w.end.lags.values(), default=0)}; drained in {w.drain_s:.1f} s"
                )
                log(
                    f"  CPU: other work {max(0.0, w.cores - w.stack_cores):.2f}; stack "
                    f"{w.stack_cores:.2f}: "
                    + ", ".join(f"{g} {c:.2f}" for g, c in sorted(w.groups.items(), key=lambda kv: -kv[1]))
                )
        finally:
            if probe is not None:
                probe.close()
            runtime.stop()
            with contextlib.suppress(Exception):
                drop_database(env.endpoints.admin_database_url, f"sc_{stage}")
            with contextlib.suppress(Exception):
                from kafka import KafkaAdminClient

                from devstack.provision import topic_specs

                admin = KafkaAdminClient(
                    bootstrap_servers=env.endpoints.kafka_bootstrap_servers, client_id="bench-capacity"
                )
                admin.delete_topics([s.name for s in topic_specs(prefix)])
                admin.close()
    out = Run(stage, workers, window_s, model, cal, windows, consumers, driver.errors.items, setup_s)
    out.seconds = time.monotonic() - started
    return out


# --- verdicts and the report ---------------------------------------------------------------------


def growing(rate_per_s: float, arrivals: float) -> bool:
    """A backlog growing faster than 5 % of the arrivals (and 1 a second) is growing."""
    return rate_per_s > max(1.0, 0.05 * arrivals)


def deficit_series(w: Window) -> list[tuple[float, float]]:
    """The pipeline's backlog in API calls over the window: the API's own, plus the outbox's and the
    laggiest consumer's converted to calls (events / events per call)."""
    p = w.prediction
    per_op = {fid: c.rate / p.through for fid, c in p.consumers.items() if p.through and c.rate}
    e = p.relay.rate / p.through if p.through and p.relay.rate else 1.0
    out = []
    for s in w.samples:
        lag = max((s.lags.get(fid, 0) / k for fid, k in per_op.items()), default=0.0)
        out.append((s.t, s.api + s.outbox / e + lag))
    return out


@dataclass
class Verdict:
    checks: dict[str, bool | None]  # None: not judged
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(v is not False for v in self.checks.values())


def judge(w: Window) -> Verdict:
    p = w.prediction
    notes: list[str] = []
    checks: dict[str, bool | None] = {}
    lat = w.latencies.get(HEADLINE, [])
    path = p.paths.get(HEADLINE)
    overloaded = p.machine_overloaded
    if path is not None and lat and not overloaded:
        for label, pred, meas in (("p50", path.p50_s, statistics.median(lat)), ("p95", path.p95_s, pct(lat, 95))):
            checks[f"commit->consumer {label}"] = ok = cm.within_factor(pred, meas, TOLERANCE, LATENCY_FLOOR_S)
            if not ok:
                notes.append(f"commit->consumer {label} {meas * 1000:.0f} ms vs {pred * 1000:.0f} ms predicted")
    if not overloaded:
        checks["API p95"] = ok = cm.within_factor(p.api.p95_s, w.api_p95, TOLERANCE, LATENCY_FLOOR_S)
        if not ok:
            notes.append(f"API p95 {w.api_p95 * 1000:.0f} ms vs {p.api.p95_s * 1000:.0f} ms predicted")
    g_pred, g_meas = p.growth_ops(), cm.slope(deficit_series(w))
    pg, mg = growing(g_pred, p.offered), growing(g_meas, p.offered)
    checks["backlog"] = ok = pg == mg and (not pg or cm.within_factor(g_pred, g_meas, TOLERANCE))
    if not ok:
        notes.append(f"backlog grows {g_meas:+.1f} calls/s, predicted {g_pred:+.1f}")
    return Verdict(checks, notes)


def ms(s: float | None) -> str:
    return "n/a" if s is None or math.isnan(s) else f"{s * 1000:,.0f}"


def table(rows: list[list[str]], head: list[str]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def short(fid: str) -> str:
    return fid.removesuffix("Function")


def scaling(r: Run) -> tuple[str, list[str]]:
    """The calibrated model (base service times, each function with CPU of its own) at docs/scaling.md's load."""
    m, prefix = r.model, f"smartcourse.{r.stage}"
    rows, notes = [], []
    enrollment_needed = {"measured": 0, "aws": 0}
    for fid, c in m.consumers.items():
        spec = r.consumers[fid]
        topics = set(consumer_topics(spec, prefix))
        if not any(TOPIC_SHARE.get(t, 0.0) for t in topics):
            continue
        factor = max(1.0, LAMBDA_MB_PER_VCPU / spec.memory_size)
        aws = cm.BatchStage(fid, c.stage.a_s * factor, c.stage.b_s * factor, c.stage.batch)
        busiest = "enrollment" if "enrollment" in topics else max(topics, key=lambda t: TOPIC_SHARE.get(t, 0.0))
        peak = PEAK * TOPIC_SHARE.get(busiest, 0.0)
        need_local, need_aws = cm.servers_needed(c.stage, peak), cm.servers_needed(aws, peak)
        if busiest == "enrollment":
            enrollment_needed["measured"] = max(enrollment_needed["measured"], need_local)
            enrollment_needed["aws"] = max(enrollment_needed["aws"], need_aws)
        configured = CONFIGURED_PARTITIONS.get(busiest, 3)
        at_conf = cm.batch_server(cm.BatchStage(fid, aws.a_s, aws.b_s, aws.batch, configured), peak, 60)
        sustained = cm.batch_server(
            cm.BatchStage(fid, aws.a_s, aws.b_s, aws.batch, configured), SUSTAINED * TOPIC_SHARE.get(busiest, 0.0), 60
        )
        rows.append(
            [
                short(fid),
                f"{c.stage.batch}",
                f"{c.stage.a_s * 1000:.1f} + {c.stage.b_s * 1000:.2f} n",
                f"{c.stage.capacity_per_server:,.0f}",
                f"{spec.memory_size} MB: x{factor:.2f}",
                f"{aws.capacity_per_server:,.0f}",
                f"{busiest} {peak:,.0f}/s",
                f"{need_local}",
                f"**{need_aws}**",
                f"{configured}: {sustained.utilisation:.2f} / {at_conf.utilisation:.2f}"
                + (" (overloaded)" if at_conf.overloaded else ""),
            ]
        )
    relay = m.relay
    head = [
        "consumer",
        "batch B",
        "base batch time a + b n (ms)",
        "per partition (events/s, base times)",
        "Lambda CPU factor",
        "per partition on AWS (events/s)",
        "peak on its busiest topic",
        "partitions needed (base times)",
        "partitions needed (AWS factor)",
        "configured partitions: utilisation at 200/s / at 2,000/s",
    ]
    relay_aws = LAMBDA_MB_PER_VCPU / 512
    notes.append(
        f"Relay: {relay.a_s * 1000:.1f} + {relay.b_s * 1000:.3f} n ms a pass (base), "
        f"{relay.capacity:,.0f} events/s in full passes of {relay.batch}: one relay runs at "
        f"{SUSTAINED / relay.capacity:.2f} of that at 200/s and {PEAK / relay.capacity:.2f} at 2,000/s; "
        f"x{relay_aws:.2f} for its 512 MB if CPU-bound: {PEAK * relay_aws / relay.capacity:.2f} at the peak "
        "(reserved concurrency 2)."
    )
    api_s = m.api.service_s
    calls_peak, calls_sus = PEAK / m.events_per_op, SUSTAINED / m.events_per_op
    notes.append(
        f"API: {api_s * 1000:.1f} ms per event-writing call through the local gateway (base, low load); "
        f"{m.events_per_op:.2f} events per call, so 2,000 events/s are {calls_peak:,.0f} calls/s = "
        f"{cm.concurrency_needed(calls_peak, api_s):,.0f} concurrent executions (Little's law; "
        f"{cm.concurrency_needed(calls_sus, api_s):,.0f} at 200/s), before any read traffic."
    )
    notes.append(
        f"Enrollment topic: {enrollment_needed['measured']} partitions with the base times, "
        f"**{enrollment_needed['aws']}** with the AWS factor keep every consumer of it at <= 0.7 of its "
        f"per-partition capacity at the 2,000/s peak (configured: {CONFIGURED_PARTITIONS['enrollment']})."
    )
    return table(rows, head), notes


def report(r: Run) -> str:
    cal, m = r.calibration, r.model
    assert m.machine is not None
    name, cap = m.bottleneck()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    low, sat, probe_phase = cal.phases["low"], cal.phases["saturation"], cal.phases["overload"]
    lines = [
        f"_Measured {stamp} by `make capacity` (`python -m bench.capacity --window {r.window_s:g} --rates "
        f"{','.join(f'{w.factor:g}' for w in r.windows)} --workers {r.workers}`) in {r.seconds:.0f} s "
        f"(set-up {r.setup_s:.0f} s, calibration {cal.seconds:.0f} s); {platform.machine()}, {cal.cores} CPUs "
        f"shared with other work, Python {platform.python_version()}. Model: `bench/capacity_model.py`._",
        "",
        "**Calibration** (this run, this machine; with the template's batch sizes and concurrency, the "
        "model's only inputs):",
        "",
    ]
    s_low = m.machine.stretch(low.rate)
    rows = [
        [
            f"machine, flat out: {2 * r.workers} clients for {sat.seconds:.0f} s, everything running",
            f"{sat.ops} calls ({cal.sat_rate:.1f}/s once the pool was full); meanwhile, in calls/s: "
            + ", ".join(f"{short(k)} kept up with {v:.1f}" for k, v in sorted(cal.first.items(), key=lambda kv: kv[1]))
            + f" (largest lag when the calls stopped {sat.lag}); {sat.cores:.2f} of {cal.cores} cores busy, "
            f"{sat.other_cores:.2f} of them other work ({cal.background:.2f} before calibration, the stack idle)",
        ],
        [
            f"machine, open loop at 1.5 x the slowest of those for {probe_phase.seconds:.0f} s",
            ", ".join(
                f"{short(k)} kept up with {v:.1f}" for k, v in sorted(cal.sustained.items(), key=lambda kv: kv[1])
            )
            + f" (largest lag when the calls stopped {probe_phase.lag}, drained {probe_phase.drain_s:.1f} s "
            f"later): **X = {cal.machine_capacity:.1f} calls/s**; {probe_phase.cores:.2f} cores busy, "
            f"{probe_phase.other_cores:.2f} other work",
        ],
        [
            "API at low load (open loop at 0.1 X)",
            f"{low.rate:.1f} calls/s (U {m.machine.utilisation(low.rate):.2f}, stretch {s_low:.2f}); mean "
            f"{statistics.fmean(cal.api_low) * 1000:.1f} ms, p50 "
            f"{statistics.median(cal.api_low) * 1000:.1f}, p95 {pct(cal.api_low, 95) * 1000:.1f} ({len(cal.api_low)} "
            f"calls) -> M/M/{r.workers} with 1/mu = {m.api.service_s * 1000:.1f} ms: {m.api.capacity:,.0f} calls/s",
        ],
        [
            "events per call",
            f"{cal.events_per_op:.3f} (" + ", ".join(f"{t} {v:.3f}" for t, v in sorted(cal.topic_per_op.items())) + ")",
        ],
        [
            "relay (in-process, scratch database)",
            f"one-row pass {cal.relay['single_s'] * 1000:.1f} ms; {cal.relay['burst_events']:.0f} rows in "
            f"{cal.relay['passes']:.0f} passes (the last one empty) at {cal.relay['burst_events_per_s']:,.0f}/s -> a = "
            f"{m.relay.a_s * 1000:.1f} ms, b = {m.relay.b_s * 1000:.3f} ms: {m.relay.capacity:,.0f} events/s",
        ],
    ]
    for fid, (a, b, n, largest) in sorted(cal.consumer_fits.items()):
        c = m.consumers.get(fid)
        if c is None:
            continue
        d = cal.drains.get(fid)
        transit = cal.transit.get(fid)
        rows.append(
            [
                f"{short(fid)} (batch {c.stage.batch}; {c.events_per_op:.3f} events per call)",
                f"{n} invocations at low load and in its solo drain (largest batch {largest}"
                + (f", drain {d.seconds:.1f} s" if d else "")
                + f") -> a = "
                f"{a * 1000:.1f} ms, b = {b * 1000:.2f} ms: {c.stage.capacity:,.0f} events/s in full batches"
                + (
                    f"; transit p50 {transit[0] * 1000:.1f} ms, p95 {transit[1] * 1000:.1f} ms (commit -> "
                    f"consumer at low load p50 {cal.low_latency[fid][0] * 1000:.0f} ms, p95 "
                    f"{cal.low_latency[fid][1] * 1000:.0f} ms)"
                    if transit
                    else ""
                ),
            ]
        )
    lines += [table(rows, ["input", "measured"]), ""]
    caps = ", ".join(f"{short(k)} {v:,.0f}" for k, v in sorted(m.capacities_ops().items(), key=lambda kv: kv[1]))
    lines += [
        f"Capacities in calls/s: {caps}. **Bottleneck: {short(name)} at {cap:.1f} calls/s**; the windows "
        f"offer {', '.join(f'{w.factor:g}x' for w in r.windows)} of it: open-loop Poisson arrivals for "
        f"{r.window_s:g} s each, through {CLIENT_THREADS} connections.",
        "",
    ]
    head = [
        "offered calls/s (arrived)",
        "machine util. pred.; cores busy meas. (other work)",
        "API p95 ms pred. / meas.",
        f"commit->{short(HEADLINE)} p50 ms pred. / meas.",
        "p95 ms pred. / meas.",
        "backlog growth, calls/s pred. / meas.",
        "at the end: API; outbox; largest lag",
        "verdict",
    ]
    out = []
    for w in r.windows:
        p, v = w.prediction, judge(w)
        lat = w.latencies.get(HEADLINE, [])
        path = p.paths.get(HEADLINE)
        over = p.machine_overloaded
        out.append(
            [
                f"{w.offered:.1f} ({w.factor:g}x; {w.arrived:.1f})",
                f"{p.utilisation or 0:.2f}; {w.cores:.2f} ({max(0.0, w.cores - w.stack_cores):.2f})",
                f"{'-' if over else ms(p.api.p95_s)} / {ms(w.api_p95)}",
                f"{'-' if over or not path else ms(path.p50_s)} / {ms(statistics.median(lat)) if lat else 'n/a'}",
                f"{'-' if over or not path else ms(path.p95_s)} / {ms(pct(lat, 95)) if lat else 'n/a'}",
                f"{p.growth_ops():+.1f} / {cm.slope(deficit_series(w)):+.1f}",
                f"{w.end.api}; {w.end.outbox}; {max(w.end.lags.values(), default=0)}",
                ("agrees" if v.ok else "DISAGREES: " + "; ".join(v.notes))
                + (" (overloaded: backlog judged, latency not predicted)" if over else ""),
            ]
        )
    lines += [table(out, head), ""]
    lines += [
        f"Tolerance: latencies within a factor of {TOLERANCE:g} (under {LATENCY_FLOOR_S * 1000:.0f} ms counts "
        f"as {LATENCY_FLOOR_S * 1000:.0f} ms). Backlog: the pipeline's, in calls (API queue + outbox and "
        "largest consumer lag divided by their events per call), sampled every second; growing when its "
        "least-squares slope exceeds 5 % of the offered rate (and 1/s); the verdict wants the model's "
        "answer and, when both grow, rates within the factor. Above the machine's capacity the model "
        "predicts the deficit, not where the queue forms, so latencies are not judged there. The transit "
        "times are fitted at the low-load calibration point (a few calls a second), so every window is a "
        "prediction, the lowest one closest to what was fitted. Cores busy: the whole machine, in "
        "brackets the part that was not the stack's processes (other work on this shared machine).",
        "",
    ]
    per = []
    for w in r.windows:
        pick = w.latencies.get(RELAY_PICKUP, [])
        over = w.prediction.machine_overloaded  # then the stages' figures are not a prediction
        rel = w.prediction.relay
        per.append(
            [
                f"{w.factor:g}x",
                "relay pick-up (published_at)",
                f"{rel.rate:.1f}",
                "-" if over else f"{rel.utilisation:.3f}",
                f"- / {ms(statistics.median(pick)) if pick else 'n/a'}",
                f"- / {ms(pct(pick, 95)) if pick else 'n/a'} ({len(pick)})",
                f"{'-' if over else f'{rel.backlog:.1f}'} / {w.end.outbox}",
            ]
        )
        for fid, pred in w.prediction.consumers.items():
            lat = w.latencies.get(fid, [])
            path = w.prediction.paths[fid]
            per.append(
                [
                    f"{w.factor:g}x",
                    short(fid),
                    f"{pred.rate:.1f}",
                    "-" if over else f"{pred.utilisation:.3f}",
                    f"{'-' if over else ms(path.p50_s)} / {ms(statistics.median(lat)) if lat else 'n/a'}",
                    f"{'-' if over else ms(path.p95_s)} / {ms(pct(lat, 95)) if lat else 'n/a'} ({len(lat)})",
                    f"{'-' if over else f'{pred.backlog:.1f}'} / {w.end.lags.get(fid, 0)}",
                ]
            )
    lines += [
        "Every stage (utilisation with the machine's stretch; commit -> consumer measured where the "
        "consumer keeps a processed_events ledger, i.e. not the lake; the certificates' ledger rows are "
        "course.completed only, each one a PDF to render, which the model's per-event average does not "
        "single out; above X the stages' figures are not a prediction):",
        "",
        table(
            per,
            [
                "window",
                "stage",
                "events/s in",
                "utilisation pred.",
                "commit->stage p50 ms pred. / meas.",
                "p95 ms pred. / meas. (events)",
                "backlog at end pred. / meas.",
            ],
        ),
        "",
    ]
    if any(w.exhausted for w in r.windows) or r.errors or not all(w.drained for w in r.windows):
        lines += [
            f"Run problems: {len(r.errors)} API errors"
            + (f" (first: {r.errors[0]})" if r.errors else "")
            + f"; arrivals without a learner left: {sum(w.exhausted for w in r.windows)}; windows not "
            f"drained: {sum(not w.drained for w in r.windows)}.",
            "",
        ]
    scale_table, scale_notes = scaling(r)
    lines += [
        "**Scaled to 1M learners** (200 events/s sustained, 2,000/s peaks, 85 % of them on the enrollment "
        "topic): on AWS each partition has its own poller running one invocation at a time, and each "
        "invocation its own CPU, so the model runs without the CPU term, with the base times, at each "
        "partition's share of its topic. A Lambda's CPU is proportional to its memory (1,769 MB = one vCPU): "
        "the AWS column multiplies the base times by 1,769 / memory as if the work were all CPU "
        "(conservative: part of it waits on Postgres). Partitions are sized for <= 0.7 of a partition's "
        "full-batch capacity.",
        "",
        scale_table,
        "",
    ]
    lines += [f"- {n}" for n in scale_notes]
    return "\n".join(lines) + "\n"


def write_doc(body: str) -> None:
    text = DOC.read_text()
    block = f"{BEGIN}\n{body}{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.capacity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=30.0, help="seconds per offered rate (default 30)")
    parser.add_argument(
        "--rates",
        default="0.25,0.5,0.8,1.2",
        help="offered rates as multiples of the bottleneck's capacity (default 0.25,0.5,0.8,1.2)",
    )
    parser.add_argument("--workers", type=int, default=4, help="warm workers per function (default 4)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/scaling.md alone")
    args = parser.parse_args(argv)
    factors = [float(x) for x in args.rates.split(",") if x.strip()]
    result = run(args.window, factors, args.workers)
    body = report(result)
    print(body)
    if not args.no_doc:
        write_doc(body)
        log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
