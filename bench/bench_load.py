"""Load through the local gateway (issue 8, part 5): concurrent learners for a few minutes.

A LocalRuntime wired only by template.yaml (every function: API, assistant, relay on its own
schedule, ingestion, certificates; GROQ_API_KEY empty, so answers are extractive) serves a private
stage (random database, buckets and topics) on a free port, against the running dev stack or a
private one (bench.common.bench_env).

1. Set-up (not timed): an instructor creates courses, uploads a Markdown document per course
   (presigned POST -> S3 -> IngestFunction), builds lessons on it, publishes, and waits until the
   course search finds the document (so the assistant has content). One small seminar has a capacity,
   so concurrent learners race for its seats.
2. Baseline: GET /health through the same gateway with the same number of clients.
3. Load: N virtual users, each in a loop: register, sign in, browse the catalogue and a course, enrol,
   ask the assistant, record lesson progress (most complete the course, which issues a certificate),
   read their progress, enrollments and certificates. A few deliberately enrol twice (409 expected)
   or try the full seminar (201 or 409 "full"). Any other status, and any transport failure, is an error.
4. Drain: after the load stops, until lms.outbox has no unpublished row and every completed enrollment
   has its certificate (relay -> Kafka -> CertificatesFunction -> certificate.issued -> relay).

Rate limits: the set-up's instructor polls the course search (up to one search per course per second)
until the documents are indexed, which can pass the assistant's 60 searches a minute per user on a
slow machine; the stage's functions therefore run with SEARCH_RATE_LIMIT_PER_MINUTE raised (a
documented bypass of the per-user limit that production cannot reach: the deployed function reads
its limits from its own settings). Asks keep the production limit (20 a minute per user): every
learner is a fresh user asking 1-2 questions, the instructor's warm-up asks one per worker.

`python -m bench load` (defaults: 180 s, 16 clients) or `make load LOAD_ARGS="--duration 60 --clients 8"`.
Exits non-zero on any error, if the outbox does not drain, or if the seminar holds more learners than seats.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Section, percentile

PASSWORD = "load-test-password-1"


# --- course material -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Topic:
    title: str
    filename: str
    text: str
    probe: str  # a phrase the course search must find once the document is indexed
    questions: tuple[str, ...]


TOPICS = (
    Topic(
        "Lunar science", "lunar-notes.md",
        "# Lunar science\n\n## Orbit\n\nThe Moon orbits the Earth once every 27.3 days, a period called the "
        "sidereal month. The cycle of lunar phases takes 29.5 days, the synodic month, because the Earth "
        "moves along its own orbit meanwhile.\n\n## Tides\n\nTides are caused mainly by the Moon's gravity "
        "pulling on the oceans. Spring tides happen at new and full moon, when the Sun and the Moon line up; "
        "neap tides happen at the quarters.\n\n## Surface\n\nThe dark plains called maria are basaltic lava "
        "flows about three billion years old. The bright highlands are older, made of anorthosite, and "
        "heavily cratered.\n\n## Exploration\n\nApollo 11 landed in the Sea of Tranquility in July 1969. "
        "Twelve astronauts walked on the Moon between 1969 and 1972 and brought back 382 kilograms of rock.\n",
        "sidereal month",
        ("How long does the Moon take to orbit the Earth?", "What causes the tides?",
         "What are the maria made of?", "When did Apollo 11 land?"),
    ),
    Topic(
        "Relational databases", "sql-notes.md",
        "# Relational databases\n\n## Transactions\n\nA transaction groups statements so that they take "
        "effect all together or not at all. PostgreSQL runs every statement in a transaction; BEGIN and "
        "COMMIT make a block of several.\n\n## Indexes\n\nA B-tree index keeps keys sorted, so equality "
        "and range lookups avoid scanning the whole table. A GIN index serves full-text search and jsonb "
        "containment.\n\n## Isolation\n\nRead committed, the default isolation level, shows each statement "
        "the rows committed before it began. Serializable isolation makes concurrent transactions behave as "
        "if they ran one after another, and may abort one with a serialization failure.\n\n## Vacuum\n\n"
        "VACUUM reclaims the space held by dead row versions that updates and deletes leave behind, and "
        "autovacuum runs it in the background.\n",
        "serialization failure",
        ("What does a transaction guarantee?", "What is a B-tree index good for?",
         "What is the default isolation level?", "What does VACUUM do?"),
    ),
    Topic(
        "Beekeeping basics", "bees.md",
        "# Beekeeping basics\n\n## The colony\n\nA honey bee colony has one queen, thousands of female "
        "worker bees and, in summer, a few hundred male drones. The queen can lay up to two thousand eggs "
        "a day.\n\n## Forage\n\nWorkers collect nectar and pollen within about three kilometres of the hive. "
        "Nectar is turned into honey by evaporation and enzymes, then capped with wax.\n\n## Swarming\n\n"
        "Swarming is how colonies reproduce: the old queen leaves with about half of the workers, and a "
        "new queen takes over the hive. Giving the colony more space in spring reduces swarming.\n\n"
        "## Winter\n\nIn winter the bees form a cluster and shiver their flight muscles to keep the queen "
        "warm; they live on the honey stored in summer.\n",
        "flight muscles",
        ("How many eggs can a queen lay?", "How far do workers forage?",
         "Why do colonies swarm?", "How do bees survive the winter?"),
    ),
)
OFF_TOPIC = "What is the capital of Australia?"


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    lessons: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    courses: tuple[Course, ...]   # with an indexed document: enrol, progress, ask
    seminar: Course               # capacity-limited, text lessons only
    seminar_capacity: int
    instructor_token: str


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Failure:
    op: str
    status: int | None   # None: transport failure (connection, timeout)
    detail: str


class Recorder:
    """Latencies (ms) per operation, unexpected answers, expected business answers, counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.laps: dict[str, list[float]] = {}
        self.failures: list[Failure] = []
        self.business: dict[str, int] = {}   # "op status" -> count of expected non-2xx answers
        self.counts: dict[str, int] = {}

    def lap(self, op: str, ms: float) -> None:
        with self.lock:
            self.laps.setdefault(op, []).append(ms)

    def fail(self, op: str, status: int | None, detail: str) -> None:
        with self.lock:
            self.failures.append(Failure(op, status, detail[:300]))

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def business_answer(self, op: str, status: int) -> None:
        self.count(f"{op} -> {status}")
        with self.lock:
            self.business[f"{op} {status}"] = self.business.get(f"{op} {status}", 0) + 1


class Unexpected(Exception):
    """A step got an answer it cannot go on from (already recorded as a failure)."""


class Client:
    """One virtual user's HTTP connection; every call is timed and checked against what is expected."""

    def __init__(self, base_url: str, rec: Recorder, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.rec = rec
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def call(self, op: str, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             expect: tuple[int, ...] = (200,), business: tuple[int, ...] = ()) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        started = time.perf_counter()
        try:
            resp = self.http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self.rec.fail(op, None, f"{method} {path}: {type(exc).__name__}: {exc}")
            raise Unexpected(op) from exc
        self.rec.lap(op, (time.perf_counter() - started) * 1000)
        status = resp.status_code
        if status in business:
            self.rec.business_answer(op, status)
        elif status not in expect:
            self.rec.fail(op, status, f"{method} {path}: {resp.text}")
            raise Unexpected(op)
        try:
            return status, resp.json() if resp.content else None
        except ValueError:
            self.rec.fail(op, status, f"{method} {path}: not JSON: {resp.text}")
            raise Unexpected(op) from None


# --- set-up: courses an instructor publishes -----------------------------------------------------

def _ok(resp: httpx.Response, status: int = 200) -> Any:
    if resp.status_code != status:
        raise RuntimeError(f"set-up: {resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:300]}")
    return resp.json() if resp.content else None


def _user(http: httpx.Client, role: str, name: str) -> str:
    email = f"{role}-{secrets.token_hex(6)}@example.com"
    _ok(http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": name, "role": role}), 201)
    return str(_ok(http.post("/auth/login", json={"email": email, "password": PASSWORD}))["access_token"])


def _lessons(http: httpx.Client, course_id: str) -> tuple[str, ...]:
    detail = _ok(http.get(f"/courses/{course_id}"))
    return tuple(lesson["id"] for m in detail["modules"] for lesson in m["lessons"])


def prepare(base_url: str, *, topics: int = 3, seminar_capacity: int = 5, index_timeout_s: float = 300) -> Catalogue:
    """Courses published through the API, each with an uploaded document the assistant can answer from."""
    with httpx.Client(base_url=base_url, timeout=120) as http:
        token = _user(http, "instructor", "Dr. Ada Lovelace")
        http.headers["Authorization"] = f"Bearer {token}"
        made: list[tuple[str, Topic]] = []
        for topic in TOPICS[:topics]:
            cid = _ok(http.post("/courses", json={"title": topic.title, "description": f"About {topic.title}"}),
                      201)["id"]
            module = _ok(http.post(f"/courses/{cid}/modules", json={"title": "Week 1"}), 201)["id"]
            data = topic.text.encode()
            created = _ok(http.post(f"/courses/{cid}/assets", json={
                "filename": topic.filename, "content_type": "text/markdown", "size": len(data)}), 201)
            upload = created["upload"]
            stored = httpx.post(upload["url"], data=upload["fields"],
                                files={"file": (topic.filename, data, "text/markdown")}, timeout=60)
            if stored.status_code not in (200, 201, 204):
                raise RuntimeError(f"set-up: upload failed: {stored.status_code} {stored.text[:300]}")
            lessons = f"/courses/{cid}/modules/{module}/lessons"
            _ok(http.post(lessons, json={"title": f"{topic.title}: notes", "kind": "document",
                                         "asset_id": created["asset"]["id"]}), 201)
            for i in (1, 2):
                _ok(http.post(lessons, json={"title": f"{topic.title}: part {i}", "kind": "text",
                                             "body": f"Part {i} of {topic.title}."}), 201)
            _ok(http.post(f"/courses/{cid}/publish"), 201)
            made.append((cid, topic))
        sid = _ok(http.post("/courses", json={"title": "Small-group seminar", "capacity": seminar_capacity}),
                  201)["id"]
        module = _ok(http.post(f"/courses/{sid}/modules", json={"title": "Session"}), 201)["id"]
        _ok(http.post(f"/courses/{sid}/modules/{module}/lessons",
                      json={"title": "Introductions", "kind": "text", "body": "Who is who."}), 201)
        _ok(http.post(f"/courses/{sid}/publish"), 201)

        # The document is live once the owner's course search finds it (upload indexed + version live).
        deadline = time.monotonic() + index_timeout_s
        pending = dict(made)
        while pending:
            for cid, topic in list(pending.items()):
                hits = _ok(http.get(f"/courses/{cid}/search", params={"q": topic.probe}))["items"]
                if hits:
                    del pending[cid]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"set-up: documents not searchable after {index_timeout_s:.0f} s: "
                                   f"{[t.title for t in pending.values()]}")
            if pending:
                time.sleep(1.0)
        courses = tuple(Course(cid, t.title, _lessons(http, cid), t.questions) for cid, t in made)
        seminar = Course(sid, "Small-group seminar", _lessons(http, sid), ())
        return Catalogue(courses, seminar, seminar_capacity, token)


def warm_up(base_url: str, catalogue: Catalogue, workers: int) -> None:
    """One request per function worker at once, so the load does not start with cold containers
    (the assistant's first request loads the embedding model)."""
    course = catalogue.courses[0]

    def one(_: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120,
                          headers={"Authorization": f"Bearer {catalogue.instructor_token}"}) as http:
            _ok(http.post(f"/courses/{course.id}/assistant/ask", json={"question": course.questions[0]}))
            _ok(http.get(f"/courses/{course.id}"))
            _ok(http.get("/health"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- the virtual users ---------------------------------------------------------------------------

@dataclass
class LoadConfig:
    duration_s: float = 180.0
    clients: int = 16
    baseline_s: float = 20.0
    workers: int = 4                       # warm workers per function (the runtime's concurrency)
    drain_timeout_s: float = 300.0
    seed: int = 8
    complete_share: float = 0.6            # learners who complete their course
    schedule_rate_s: float | None = None   # None: the template's rate (the relay every minute)


@dataclass
class Observed:
    completions: set[str] = field(default_factory=set)   # enrollment ids the API said completed
    learners: int = 0
    seminar_seats: int = 0


def learner_session(c: Client, rng: random.Random, cat: Catalogue, cfg: LoadConfig, seen: Observed,
                    lock: threading.Lock) -> None:
    """One learner's visit, start to finish."""
    email = f"learner-{uuid.uuid4().hex[:16]}@example.com"
    c.token = None
    c.call("register", "POST", "/auth/register", expect=(201,),
           json={"email": email, "password": PASSWORD, "name": f"Learner {email[8:14]}"})
    _, tok = c.call("login", "POST", "/auth/login", json={"email": email, "password": PASSWORD})
    c.token = tok["access_token"]
    with lock:
        seen.learners += 1
    c.call("catalogue", "GET", "/courses", params={"status": "published", "limit": 20})
    course = rng.choice(cat.courses)
    _, detail = c.call("course", "GET", f"/courses/{course.id}")
    lessons = [lesson["id"] for m in detail["modules"] for lesson in m["lessons"]]
    _, enrollment = c.call("enrol", "POST", f"/courses/{course.id}/enrollments", expect=(201,))
    eid = enrollment["id"]
    if rng.random() < 0.15:   # a double click: the API answers 409, nothing else changes
        c.call("enrol again", "POST", f"/courses/{course.id}/enrollments", expect=(), business=(409,))
    if rng.random() < 0.3:    # the capacity-limited seminar: a seat, or 409 "full"
        status, _ = c.call("enrol seminar", "POST", f"/courses/{cat.seminar.id}/enrollments",
                           expect=(201,), business=(409,))
        if status == 201:
            with lock:
                seen.seminar_seats += 1
    conversation: str | None = None
    for _ in range(rng.randint(1, 2)):
        question = OFF_TOPIC if rng.random() < 0.1 else rng.choice(course.questions)
        body: dict[str, Any] = {"question": question}
        if conversation:
            body["conversation_id"] = conversation
        _, answer = c.call("ask", "POST", f"/courses/{course.id}/assistant/ask", json=body)
        conversation = answer["conversation_id"]
        c.rec.count("answers refused" if answer["refused"] else "answers with citations")
        if answer["refused"] and question != OFF_TOPIC:
            c.rec.count(f"refused: {question}")
    complete = rng.random() < cfg.complete_share
    for i, lesson in enumerate(lessons if complete else lessons[:1]):
        path = f"/enrollments/{eid}/lessons/{lesson}/progress"
        c.call("progress", "PUT", path, json={"status": "in_progress", "percent": 50})
        _, done = c.call("progress", "PUT", path, json={"status": "completed"})
        if done["completed"]:
            if i != len(lessons) - 1:
                c.rec.fail("progress", 200, f"completed after {i + 1} of {len(lessons)} lessons")
            with lock:
                seen.completions.add(eid)
    c.call("progress view", "GET", f"/enrollments/{eid}/progress")
    c.call("my enrollments", "GET", "/me/enrollments")
    c.call("my certificates", "GET", "/me/certificates")


def drive(base_url: str, cat: Catalogue, cfg: LoadConfig, rec: Recorder) -> tuple[Observed, float]:
    """cfg.clients virtual users for cfg.duration_s; each finishes the session it is in when time is up."""
    seen = Observed()
    lock = threading.Lock()
    deadline = time.monotonic() + cfg.duration_s

    def vu(n: int) -> None:
        rng = random.Random(cfg.seed * 1000 + n)
        c = Client(base_url, rec)
        try:
            while time.monotonic() < deadline:
                try:
                    learner_session(c, rng, cat, cfg, seen, lock)
                except Unexpected:
                    pass  # recorded; the next session starts afresh
                except Exception as exc:  # a bug in this script or a malformed body: an error all the same
                    rec.fail("session", None, f"{type(exc).__name__}: {exc}")
        finally:
            c.close()

    started = time.monotonic()
    threads = [threading.Thread(target=vu, args=(n,), name=f"vu-{n}") for n in range(cfg.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen, time.monotonic() - started


def baseline(base_url: str, clients: int, seconds: float, rec: Recorder) -> float:
    """GET /health through the same gateway, same concurrency."""
    deadline = time.monotonic() + seconds

    def vu() -> None:
        c = Client(base_url, rec)
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(Unexpected):
                    c.call("baseline: GET /health", "GET", "/health")
        finally:
            c.close()

    started = time.monotonic()
    threads = [threading.Thread(target=vu) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


# --- after the load: the outbox drains, the consumers catch up -----------------------------------

@dataclass
class Drain:
    drained: bool
    seconds: float
    backlog_at_stop: int          # unpublished outbox rows when the load stopped
    certificates_missing_at_stop: int
    unpublished: int
    parked: int
    completed: int                # completed enrollments in the database
    certificates: int
    seminar_live: int
    outbox_total: int


def _snapshot(conn: Any, seminar_id: str) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM lms.outbox WHERE published_at IS NULL AND parked_at IS NULL) AS unpublished,"
        " (SELECT count(*) FROM lms.outbox WHERE parked_at IS NOT NULL) AS parked,"
        " (SELECT count(*) FROM lms.outbox) AS outbox_total,"
        " (SELECT count(*) FROM lms.enrollments WHERE status = 'completed') AS completed,"
        " (SELECT count(*) FROM lms.certificates) AS certificates,"
        " (SELECT count(*) FROM lms.certificates c JOIN lms.enrollments e ON e.id = c.enrollment_id"
        "   WHERE e.status = 'completed') AS certified,"
        " (SELECT count(*) FROM lms.enrollments WHERE course_id = %s AND status <> 'cancelled') AS seminar_live",
        (seminar_id,)).fetchone()
    return dict(row)


class Backlog(threading.Thread):
    """Samples the outbox backlog and the certificates still to issue every `period_s` during the load."""

    def __init__(self, database_url: str, seminar_id: str, period_s: float = 2.0) -> None:
        super().__init__(name="backlog", daemon=True)
        self.database_url, self.seminar_id, self.period_s = database_url, seminar_id, period_s
        self.stopping = threading.Event()
        self.max_unpublished = 0
        self.max_uncertified = 0
        self.samples = 0

    def run(self) -> None:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row) as conn:
            while not self.stopping.wait(self.period_s):
                snap = _snapshot(conn, self.seminar_id)
                self.samples += 1
                self.max_unpublished = max(self.max_unpublished, snap["unpublished"])
                self.max_uncertified = max(self.max_uncertified, snap["completed"] - snap["certified"])


def wait_drained(database_url: str, seminar_id: str, timeout_s: float) -> Drain:
    import psycopg
    from psycopg.rows import dict_row

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        first = _snapshot(conn, seminar_id)
        snap = first
        while True:
            done = (snap["unpublished"] == 0 and snap["parked"] == 0
                    and snap["certified"] == snap["completed"] == snap["certificates"])
            if done or time.monotonic() - started > timeout_s:
                break
            time.sleep(0.25)
            snap = _snapshot(conn, seminar_id)
    return Drain(drained=done, seconds=time.monotonic() - started, backlog_at_stop=first["unpublished"],
                 certificates_missing_at_stop=first["completed"] - first["certified"],
                 unpublished=snap["unpublished"], parked=snap["parked"], completed=snap["completed"],
                 certificates=snap["certificates"], seminar_live=snap["seminar_live"],
                 outbox_total=snap["outbox_total"])


# --- the whole run -------------------------------------------------------------------------------

@dataclass
class Report:
    cfg: LoadConfig
    rec: Recorder
    seen: Observed
    load_s: float
    baseline_s: float
    drain: Drain
    catalogue: Catalogue
    setup_s: float
    backlog: Backlog

    def problems(self) -> list[str]:
        out = [f"{f.op}: {f.status if f.status is not None else 'no response'}: {f.detail}"
               for f in self.rec.failures]
        d = self.drain
        if not d.drained:
            out.append(f"not drained after {d.seconds:.0f} s: {d.unpublished} unpublished, {d.parked} parked "
                       f"outbox rows; {d.certificates} certificates for {d.completed} completed enrollments")
        if d.completed != len(self.seen.completions):
            out.append(f"the API reported {len(self.seen.completions)} completions, the database has {d.completed}")
        if d.seminar_live > self.catalogue.seminar_capacity or self.seen.seminar_seats != d.seminar_live:
            out.append(f"seminar: {d.seminar_live} live enrollments ({self.seen.seminar_seats} granted) for "
                       f"{self.catalogue.seminar_capacity} seats")
        return out


def start_runtime(template: Any, env: dict[str, str], *, stage: str, kafka_bootstrap: str, sqs: Any,
                  queues: dict[tuple[str, str], str], workers: int, schedule_rate_s: float | None,
                  log_dir: Path | None = None) -> Any:
    from devstack.runtime import LocalRuntime, RuntimeOptions

    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    overrides = {"GROQ_API_KEY": "", "GROQ_API_KEY_SECRET_ARN": "", "SEARCH_RATE_LIMIT_PER_MINUTE": "100000"}
    runtime = LocalRuntime(template, {**env, **overrides},
                           RuntimeOptions(http_port=port, schedule_rate_s=schedule_rate_s, max_concurrency=workers,
                                          log_dir=log_dir),
                           stage=stage, kafka_bootstrap=kafka_bootstrap, sqs=sqs, s3_queues=queues)
    runtime.start()
    return runtime


@contextlib.contextmanager
def running(template: Any, env: dict[str, str], *, stage: str, kafka_bootstrap: str, aws_endpoint_url: str,
            queues: dict[tuple[str, str], str], workers: int = 4, schedule_rate_s: float | None = None,
            log_dir: Path | None = None) -> Iterator[str]:
    """A LocalRuntime with every function of the template; yields the gateway's base URL.
    The functions' logs go to `log_dir/<function>.log` if given (else to this process's stderr)."""
    from devstack.stack import aws_clients

    _, sqs = aws_clients(aws_endpoint_url)
    runtime = start_runtime(template, env, stage=stage, kafka_bootstrap=kafka_bootstrap, sqs=sqs, queues=queues,
                            workers=workers, schedule_rate_s=schedule_rate_s, log_dir=log_dir)
    try:
        if not runtime.wait_for_consumers(120):
            raise RuntimeError("the MSK mappings' consumers got no partitions")
        assert runtime.gateway is not None
        yield runtime.gateway.url
    finally:
        runtime.stop()


def load(base_url: str, database_url: str, cfg: LoadConfig, log: Callable[[str], None] = print) -> Report:
    t0 = time.monotonic()
    log("load: set-up (courses, uploads, indexing)")
    cat = prepare(base_url)
    warm_up(base_url, cat, cfg.workers)
    setup_s = time.monotonic() - t0
    rec = Recorder()
    log(f"load: baseline GET /health x {cfg.clients} clients for {cfg.baseline_s:.0f} s")
    baseline_s = baseline(base_url, cfg.clients, cfg.baseline_s, rec)
    log(f"load: {cfg.clients} virtual users for {cfg.duration_s:.0f} s")
    backlog = Backlog(database_url, cat.seminar.id)
    backlog.start()
    try:
        seen, load_s = drive(base_url, cat, cfg, rec)
    finally:
        backlog.stopping.set()
        backlog.join(10)
    log(f"load: stopped after {load_s:.0f} s; {len(rec.failures)} errors; waiting for the outbox to drain")
    drain = wait_drained(database_url, cat.seminar.id, cfg.drain_timeout_s)
    log(f"load: drained={drain.drained} in {drain.seconds:.1f} s")
    return Report(cfg, rec, seen, load_s, baseline_s, drain, cat, setup_s, backlog)


OPS = ("register", "login", "catalogue", "course", "enrol", "enrol again", "enrol seminar", "ask", "progress",
       "progress view", "my enrollments", "my certificates")


def section(r: Report) -> Section:
    base = r.rec.laps.get("baseline: GET /health", [])
    base_p50, base_p99 = percentile(base, 50), percentile(base, 99)
    by_op: dict[str, int] = {}
    for f in r.rec.failures:
        by_op[f.op] = by_op.get(f.op, 0) + 1
    rows: list[dict[str, Any]] = []

    def row(op: str, laps: list[float], seconds: float) -> dict[str, Any]:
        p50, p99 = percentile(laps, 50), percentile(laps, 99)
        return {"operation": op, "n": len(laps), "per s": len(laps) / seconds if seconds else 0.0,
                "p50 ms": p50, "p95 ms": percentile(laps, 95), "p99 ms": p99, "max ms": max(laps) if laps else None,
                "p50 x health": p50 / base_p50 if base_p50 else None,
                "p99 x health": p99 / base_p99 if base_p99 else None,
                "errors": by_op.get(op, 0)}

    rows.append(row("baseline: GET /health", base, r.baseline_s))
    total = 0
    for op in OPS:
        laps = r.rec.laps.get(op, [])
        total += len(laps)
        rows.append(row(op, laps, r.load_s))
    rows.append({"operation": "all load requests", "n": total, "per s": total / r.load_s,
                 "errors": len(r.rec.failures)})
    d = r.drain
    business = ", ".join(f"{k} x{v}" for k, v in sorted(r.rec.business.items())) or "none"
    on_topic_refused = sorted((k[len("refused: "):], v) for k, v in r.rec.counts.items() if k.startswith("refused: "))
    answers = (f"{r.rec.counts.get('answers with citations', 0)} answered with citations, "
               f"{r.rec.counts.get('answers refused', 0)} refused (off-topic questions are 10 % of asks"
               + ("; on-topic questions refused: " + ", ".join(f'"{q}" x{n}' for q, n in on_topic_refused)
                  if on_topic_refused else "") + ")")
    notes = (
        f"{r.cfg.clients} virtual users (threads, one keep-alive connection each, no think time) for "
        f"{r.load_s:.0f} s through the local gateway of a LocalRuntime wired by template.yaml (every function; "
        f"{r.cfg.workers} warm workers per function, the relay's reserved concurrency 2; relay on its "
        f"{'template' if r.cfg.schedule_rate_s is None else f'{r.cfg.schedule_rate_s:g} s'} schedule; "
        f"GROQ_API_KEY empty, so answers are extractive), private stage and database on the shared dev stack. "
        f"Each user: register, sign in, catalogue, course, enrol, ask 1-2 questions, progress "
        f"(in_progress then completed per lesson; {r.cfg.complete_share:.0%} complete all 3 lessons), progress "
        f"view, enrollments, certificates; 15 % enrol twice (409 expected), 30 % try a "
        f"{r.catalogue.seminar_capacity}-seat seminar (201 or 409 full). Baseline: GET /health (Postgres ping, "
        f"Kafka ApiVersions, S3 HeadBucket) with the same {r.cfg.clients} clients for {r.baseline_s:.0f} s "
        f"just before the load. Set-up (3 courses, 3 uploaded documents indexed, warm-up) took {r.setup_s:.0f} s.\n\n"
        f"**Errors: {len(r.rec.failures)}** (any status other than the expected one, or no response). Expected "
        f"business answers: {business}. Learners: {r.seen.learners}; assistant: {answers}; completions "
        f"reported by the API: {len(r.seen.completions)}; seminar: {d.seminar_live} of "
        f"{r.catalogue.seminar_capacity} seats taken.\n\n"
        f"**Backlog during the load** (sampled every {r.backlog.period_s:g} s, {r.backlog.samples} samples): at most "
        f"{r.backlog.max_unpublished} unpublished outbox rows and {r.backlog.max_uncertified} completions "
        f"waiting for their certificate.\n\n"
        f"**Drain** after the load stopped: {d.backlog_at_stop} unpublished outbox rows and "
        f"{d.certificates_missing_at_stop} certificates still to issue at that moment; "
        f"{'drained' if d.drained else 'NOT drained'} in **{d.seconds:.1f} s** (0 unpublished, {d.parked} parked, "
        f"{d.certificates} certificates for {d.completed} completed enrollments, {d.outbox_total} outbox rows "
        f"in all). Ratios against the baseline are the comparable figures; the machine is shared."
    )
    return Section(title="Load through the gateway (issue 8)", rows=rows, notes=notes, order=90,
                   extra={"problems": r.problems()})


def config_from_env() -> LoadConfig:
    cfg = LoadConfig()
    cfg.duration_s = float(os.environ.get("LOAD_DURATION_S", cfg.duration_s))
    cfg.clients = int(os.environ.get("LOAD_CLIENTS", cfg.clients))
    cfg.baseline_s = float(os.environ.get("LOAD_BASELINE_S", cfg.baseline_s))
    cfg.workers = int(os.environ.get("LOAD_WORKERS", cfg.workers))
    cfg.drain_timeout_s = float(os.environ.get("LOAD_DRAIN_TIMEOUT_S", cfg.drain_timeout_s))
    return cfg


def run() -> Section:
    from bench.common import bench_env
    from devstack.postgres import drop_database

    cfg = config_from_env()
    stage = "load" + secrets.token_hex(3)
    log_dir = Path(tempfile.gettempdir()) / f"smartcourse-{stage}"
    print(f"load: stage {stage}; function logs in {log_dir}", flush=True)
    with bench_env(stage) as env:
        try:
            with running(env.template, env.function_env(), stage=stage,
                         kafka_bootstrap=env.endpoints.kafka_bootstrap_servers,
                         aws_endpoint_url=env.endpoints.aws_endpoint_url, queues=env.queues,
                         workers=cfg.workers, schedule_rate_s=cfg.schedule_rate_s, log_dir=log_dir) as url:
                report = load(url, env.database_url, cfg)
        finally:
            with contextlib.suppress(Exception):
                drop_database(env.endpoints.admin_database_url, f"sc_{stage}")
    out = section(report)
    problems = out.extra["problems"]
    if problems:
        print(out.markdown(), file=sys.stderr)
        for p in problems:
            print(f"load: ERROR {p}", file=sys.stderr)
        raise RuntimeError(f"{len(problems)} problems under load (first: {problems[0]})")
    return out


def main(argv: list[str] | None = None) -> int:
    """`make load LOAD_ARGS="--duration 60 --clients 8"`: sets the run's knobs, then `python -m bench load`."""
    parser = argparse.ArgumentParser(prog="bench.bench_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, help="seconds of load (default 180)")
    parser.add_argument("--clients", type=int, help="virtual users (default 16)")
    parser.add_argument("--baseline", type=float, help="seconds of the GET /health baseline (default 20)")
    parser.add_argument("--workers", type=int, help="warm workers per function (default 4)")
    parser.add_argument("--drain-timeout", type=float, help="seconds allowed for the drain (default 300)")
    args = parser.parse_args(argv)
    for name, var in (("duration", "LOAD_DURATION_S"), ("clients", "LOAD_CLIENTS"), ("baseline", "LOAD_BASELINE_S"),
                      ("workers", "LOAD_WORKERS"), ("drain_timeout", "LOAD_DRAIN_TIMEOUT_S")):
        if getattr(args, name) is not None:
            os.environ[var] = str(getattr(args, name))
    from bench.__main__ import main as bench_main

    return bench_main(["load"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
