"""The workload: instructors publish courses; learners register, enrol and record lesson progress
(each call writes outbox rows; most learners complete -> course.completed -> certificates);
instructors upload small real documents (markdown, text, PDF, made on the fly) with presigned POSTs
and re-publish courses now and then (course.published -> ingestion). Everything goes through the
gateway, as a client would."""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.chaos.client import Client
from tests.integration.ingest import documents as docs

PASSWORD = "chaos-password-0123"
LESSONS = 8  # a completion (1 certificate) every ~14 events: certificates are the slowest consumer
MANUAL_PAGES = ["tutorial-transactions.html", "mvcc-intro.html", "indexes-intro.html", "indexes-types.html"]


@dataclass
class Course:
    id: str
    owner_token: str
    lessons: list[str]


@dataclass
class Upload:
    asset_id: str
    course_id: str
    key: str
    finished_at: float = 0.0


@dataclass
class WorkloadResult:
    learners: int = 0
    enrollments: int = 0
    completed: set[str] = field(default_factory=set)  # enrollment ids the API reported completed
    uploads: list[Upload] = field(default_factory=list)
    publishes: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0


def outbox_count(database_url: str) -> int:
    try:
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM lms.outbox").fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1  # Postgres is being restarted


class Workload:
    def __init__(self, client: Client, database_url: str, *, events: int, uploads: int, courses: int = 8,
                 learner_threads: int = 6, seed: int = 8, log: Callable[[str], None] = print,
                 completion_rate: float = 0.5) -> None:
        self.client = client
        self.database_url = database_url
        self.target_events = events
        self.target_uploads = uploads
        self.n_courses = courses
        self.learner_threads = learner_threads
        self.completion_rate = completion_rate
        self.rng = random.Random(seed)
        self.log = log
        self.courses: list[Course] = []
        self.instructors: list[str] = []
        self.result = WorkloadResult()
        self._lock = threading.Lock()
        self.events_seen = 0
        self.done = threading.Event()
        #: Set while faults are being injected: the workload goes on past its event target until
        #: every fault has met load (uploads included).
        self.hold = threading.Event()
        self._pages = [docs.manual_page(p) for p in MANUAL_PAGES]

    # -- setup (before any fault) -----------------------------------------------------------------

    def user(self, role: str, name: str) -> str:
        email = f"{role}-{secrets.token_hex(6)}@chaos.example.com"
        self.client.call("POST", "/auth/register", body={"email": email, "password": PASSWORD, "name": name,
                                                          "role": role})
        return str(self.client.call("POST", "/auth/login", body={"email": email, "password": PASSWORD})
                   ["access_token"])

    def setup(self) -> None:
        self.instructors = [self.user("instructor", f"Instructor {i}") for i in range(2)]
        for c in range(self.n_courses):
            token = self.instructors[c % len(self.instructors)]
            course = self.client.call("POST", "/courses", token, {"title": f"Chaos course {c}",
                                                                   "description": "fault injection"})
            module = self.client.call("POST", f"/courses/{course['id']}/modules", token, {"title": "Week 1"})
            lessons = [self.client.call("POST", f"/courses/{course['id']}/modules/{module['id']}/lessons", token,
                                        {"title": f"Lesson {i}", "kind": "text", "body": "Read the notes."})["id"]
                       for i in range(LESSONS)]
            self.client.call("POST", f"/courses/{course['id']}/publish", token)
            self.result.publishes += 1
            self.courses.append(Course(course["id"], token, lessons))

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> WorkloadResult:
        self.result.started_at = time.monotonic()
        monitor = threading.Thread(target=self._monitor, daemon=True)
        monitor.start()
        with ThreadPoolExecutor(self.learner_threads + 2) as pool:
            futures = [pool.submit(self._learners) for _ in range(self.learner_threads)]
            futures.append(pool.submit(self._uploads))
            futures.append(pool.submit(self._publishes))
            for f in futures:
                try:
                    f.result()
                except Exception as exc:  # reported, and the run fails
                    self.result.errors.append(f"{type(exc).__name__}: {exc}"[:500])
                    self.done.set()
        self.done.set()
        self.result.finished_at = time.monotonic()
        return self.result

    def progress(self) -> float:
        return min(1.0, max(0, self.events_seen) / self.target_events)

    def _monitor(self) -> None:
        last = 0.0
        while not self.done.is_set():
            n = outbox_count(self.database_url)
            if n >= 0:
                self.events_seen = n
            if n >= self.target_events and not self.hold.is_set():
                self.done.set()
            if time.monotonic() - last > 10:
                last = time.monotonic()
                self.log(f"  workload: {max(n, 0)} events committed, {self.result.enrollments} enrollments, "
                         f"{len(self.result.uploads)} uploads, {self.result.publishes} publishes")
            time.sleep(0.5)

    def _learners(self) -> None:
        while not self.done.is_set():
            with self._lock:
                self.result.learners += 1
                n = self.result.learners
            token = self.user("student", f"Learner {n}")
            for course in self.rng.sample(self.courses, k=min(4, len(self.courses))):
                if self.done.is_set():
                    break
                enrollment = self.client.call("POST", f"/courses/{course.id}/enrollments", token, {})
                with self._lock:
                    self.result.enrollments += 1
                lessons = course.lessons if self.rng.random() < self.completion_rate else course.lessons[:3]
                for lesson in lessons:
                    out = self.client.call("PUT", f"/enrollments/{enrollment['id']}/lessons/{lesson}/progress",
                                           token, {"status": "completed"})
                    if out["completed"]:
                        with self._lock:
                            self.result.completed.add(enrollment["id"])

    def document(self, i: int) -> tuple[str, str, bytes]:
        page = self._pages[i % len(self._pages)]
        start = (i * 3) % max(1, len(page.paragraphs) - 3)
        paras = [f"Chaos upload {i} ({uuid.uuid4()}): notes on {page.title}.", *page.paragraphs[start:start + 3]]
        kind = i % 3
        if kind == 0:
            return f"notes-{i}.md", "text/markdown", docs.markdown(f"{page.title} ({i})", [("Notes", paras)])
        if kind == 1:
            return f"notes-{i}.txt", "text/plain", docs.text(paras)
        return f"notes-{i}.pdf", "application/pdf", docs.pdf([paras], title=f"{page.title} ({i})")

    def _uploads(self) -> None:
        i = 0
        while i < self.target_uploads or (self.hold.is_set() and not self.done.is_set()):
            # spread the uploads over the event workload, so some meet every fault; while faults
            # are still being injected past the target, one more every 2 s
            if i < self.target_uploads:
                while self.progress() < 0.9 * i / self.target_uploads and not self.done.is_set():
                    time.sleep(0.2)
            else:
                time.sleep(2)
            course = self.courses[i % len(self.courses)]
            filename, ctype, data = self.document(i)
            created = self.client.call("POST", f"/courses/{course.id}/assets", course.owner_token,
                                       {"filename": filename, "content_type": ctype, "size": len(data)})
            up = created["upload"]
            self.client.upload(up["url"], up["fields"], filename, data, ctype)
            with self._lock:
                self.result.uploads.append(Upload(created["asset"]["id"], course.id, up["fields"]["key"],
                                                  time.monotonic()))
            i += 1

    def _publishes(self) -> None:
        """Re-publish a course at every 1/(2 x courses) of the workload: course.published events
        (with the course's assets) flow to IngestFunction while faults happen."""
        steps = 2 * len(self.courses)
        for i in range(1, steps + 1):
            while self.progress() < i / (steps + 1) and not self.done.is_set():
                time.sleep(0.2)
            if self.done.is_set():
                return
            course = self.courses[i % len(self.courses)]
            self.client.call("POST", f"/courses/{course.id}/publish", course.owner_token)
            with self._lock:
                self.result.publishes += 1


def as_dict(w: WorkloadResult) -> dict[str, Any]:
    return {"learners": w.learners, "enrollments": w.enrollments, "completed": len(w.completed),
            "uploads": len(w.uploads), "publishes": w.publishes}
