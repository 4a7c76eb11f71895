"""Reconciliation of certificates: a completion whose `course.completed` never got through (its
record dead-lettered after the consumer's retries) still gets its certificate, without a manual step.

CertificatesFunction's Schedule event runs `sweep` (every 5 minutes). It looks at enrollments
completed more than ``sweep_grace_s`` ago that have no certificate, oldest completion first (those
the sweep already failed on last), at most ``sweep_batch`` per run, and issues each through
`issue_for_completion`, the consumer's own path:

- with the completion's own event, read back from ``lms.outbox`` / ``lms.outbox_archive``, so the
  certificate gets the code the consumer would have derived from it; the consumer's
  ``processed_events`` row for that event is written in the same transaction, so the original
  event arriving late (a replay of the dead-letter topic) is a no-op;
- if the outbox row is gone (retention), with a fresh completion event (a new random code);
- ``lms.certificates.enrollment_id`` is UNIQUE and the insert is ``ON CONFLICT DO NOTHING``: the
  sweep and the consumer racing on one enrollment give one certificate, one PDF, one
  ``certificate.issued``.

A completion that fails for another reason than an outage (e.g. a learner name no bundled font can
draw) is recorded in ``lms.certificate_sweeps`` with its reason and retried by later runs up to
``sweep_max_attempts`` times, after the others; then it is left there for an operator. An outage
(`DependencyUnavailable`, `StorageError`: `smartcourse.consumer.is_transient`) ends the run
without counting an attempt: the next run retries.

Same design as the AI side's sweeper (`smartcourse.ai.reconcile`): a `CertificateSweeper` holding
the rules, a store port (`CertificateSweepStore`; the SQL adapter `PostgresCertificateSweepStore`
below), and `smartcourse.sweeping.SweepRun` for what every sweep shares (time left, outages,
failures).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg import sql

from smartcourse.certificates import repository as repo
from smartcourse.certificates.service import Renderer, Store, issue_for_completion
from smartcourse.db import Database
from smartcourse.events import EventEnvelope, new_event
from smartcourse.observability import logger, measure
from smartcourse.sweeping import SweepRun

Conn = Any
COMPLETED_TYPE = "smartcourse.course.completed.v1"
CORRELATION = "certificate-sweeper"


@dataclass(frozen=True, slots=True)
class PendingCompletion:
    enrollment_id: uuid.UUID
    completed_at: datetime
    attempts: int  # failed sweep attempts so far


@dataclass
class CertificateSweepReport:
    run: SweepRun
    looked_at: int = 0
    issued: int = 0
    already_issued: int = 0
    from_outbox: int = 0

    def as_dict(self) -> dict[str, Any]:
        run = self.run.as_dict()  # its item errors are this report's "failed" completions
        return {"looked_at": self.looked_at, "issued": self.issued, "already_issued": self.already_issued,
                "from_outbox": self.from_outbox, "failed": run.pop("errors"), **run}


@dataclass(frozen=True, slots=True)
class Issued:
    created: bool
    code: str
    from_outbox: bool  # issued with the original event (else a fresh one: the outbox row was gone)


class CertificateSweepStore(Protocol):
    def pending(self, *, grace_s: float, max_attempts: int, limit: int) -> list[PendingCompletion]: ...
    def issue(self, enrollment_id: uuid.UUID) -> Issued: ...
    def record_failure(self, enrollment_id: uuid.UUID, error: str) -> None: ...


# --------------------------------------------------------------------------- SQL


def pending_completions(conn: Conn, *, grace_s: float, max_attempts: int, limit: int) -> list[PendingCompletion]:
    rows = conn.execute(
        """
        SELECT e.id, e.completed_at, coalesce(s.attempts, 0) AS attempts
          FROM lms.enrollments e
          LEFT JOIN lms.certificate_sweeps s ON s.enrollment_id = e.id
         WHERE e.status = 'completed'
           AND e.completed_at < now() - make_interval(secs => %s)
           AND NOT EXISTS (SELECT 1 FROM lms.certificates c WHERE c.enrollment_id = e.id)
           AND coalesce(s.attempts, 0) < %s
         ORDER BY s.last_attempt_at ASC NULLS FIRST, e.completed_at, e.id
         LIMIT %s
        """,
        (grace_s, max_attempts, limit),
    ).fetchall()
    out = []
    for r in rows:
        out.append(PendingCompletion(r["id"], r["completed_at"], int(r["attempts"])))
    return out


def completion_event(conn: Conn, enrollment_id: uuid.UUID) -> EventEnvelope | None:
    """The `course.completed` the API wrote for this enrollment (outbox, else its archive)."""
    for table in ("outbox", "outbox_archive"):
        query = sql.SQL("SELECT payload FROM {} WHERE aggregate_type = 'enrollment' AND aggregate_id = %s "
                        "AND event_type = %s ORDER BY seq DESC LIMIT 1").format(sql.Identifier("lms", table))
        row = conn.execute(query, (str(enrollment_id), COMPLETED_TYPE)).fetchone()
        if row is not None:
            return EventEnvelope.model_validate(row["payload"])
    return None


def record_failure(conn: Conn, enrollment_id: uuid.UUID, error: str) -> None:
    conn.execute(
        "INSERT INTO lms.certificate_sweeps (enrollment_id, last_error) VALUES (%s, %s) "
        "ON CONFLICT (enrollment_id) DO UPDATE SET attempts = lms.certificate_sweeps.attempts + 1, "
        "last_error = EXCLUDED.last_error, last_attempt_at = now()",
        (enrollment_id, error[:1000]))


def fresh_completion_event(conn: Conn, enrollment_id: uuid.UUID) -> EventEnvelope:
    """A completion event rebuilt from the enrollment (its original left the outbox)."""
    facts = repo.completion_facts(conn, enrollment_id)
    data: dict[str, Any] = {"enrollment_id": str(enrollment_id)}
    if facts is not None:
        data |= {"course_id": str(facts.course_id), "course_version": facts.course_version,
                 "user_id": str(facts.user_id),
                 "completed_at": facts.completed_at.isoformat() if facts.completed_at else None}
    return new_event("course.completed", enrollment_id, data, correlation_id=CORRELATION,
                     aggregate_type="enrollment")


# --------------------------------------------------------------------------- the sweep


#: Stop taking completions when less than this is left of the invocation (a render and a put; the
#: certificates function's timeout is 60 s).
SAFETY_MS = 15_000


class CertificateSweeper:
    def __init__(self, store: CertificateSweepStore, *, grace_s: float, batch: int, max_attempts: int) -> None:
        self.store = store
        self.grace_s, self.batch, self.max_attempts = grace_s, batch, max_attempts

    def run(self, remaining_ms: Callable[[], int] | None = None) -> CertificateSweepReport:
        """One sweep (`smartcourse.sweeping`: time, outages and failures are handled the same way in
        every sweeper); each completion is its own transaction: what is left waits for the next run."""
        report = CertificateSweepReport(SweepRun(SAFETY_MS, remaining_ms))
        run = report.run
        pending = run.listing(lambda: self.store.pending(grace_s=self.grace_s, max_attempts=self.max_attempts,
                                                         limit=self.batch))
        for item in run.candidates(pending):
            report.looked_at += 1
            try:
                result = self.store.issue(item.enrollment_id)
            except Exception as exc:
                if run.failed(f"enrollment {item.enrollment_id}", exc):
                    break  # an outage: not an attempt of this completion
                try:  # a problem of this completion: counted, retried by later runs up to max_attempts
                    self.store.record_failure(item.enrollment_id, f"{type(exc).__name__}: {exc}")
                except Exception as outage:
                    if not run.failed("recording a failed attempt", outage):
                        raise
                continue
            report.from_outbox += result.from_outbox
            if result.created:
                report.issued += 1
                logger.info("certificate issued by the sweeper", extra={"enrollment_id": str(item.enrollment_id),
                                                                        "certificate_code": result.code})
            else:
                report.already_issued += 1
        logger.info("certificate sweep done", extra={"sweep": report.as_dict()})
        for name, value in (("SweepCertificatesIssued", report.issued), ("SweepCertificatesFailed", len(run.errors)),
                            ("SweepOutage", int(run.outage is not None))):
            measure(name, value)
        return report


# --------------------------------------------------------------------------- adapter (SQL)


class PostgresCertificateSweepStore:
    def __init__(self, database: Database, *, renderer: Renderer, store: Store, public_base_url: str,
                 consumer_name: str) -> None:
        self.database = database
        self.renderer, self.objects = renderer, store
        self.public_base_url, self.consumer_name = public_base_url, consumer_name

    def pending(self, *, grace_s: float, max_attempts: int, limit: int) -> list[PendingCompletion]:
        with self.database.transaction() as conn:
            return pending_completions(conn, grace_s=grace_s, max_attempts=max_attempts, limit=limit)

    def issue(self, enrollment_id: uuid.UUID) -> Issued:
        """Through the consumer's own path, with the completion's own event when the outbox still
        has it, its processed_events row in the same transaction."""
        with self.database.transaction() as conn:
            envelope = completion_event(conn, enrollment_id)
            from_outbox = envelope is not None
            if envelope is None:
                envelope = fresh_completion_event(conn, enrollment_id)
            conn.execute("INSERT INTO lms.processed_events (consumer, event_id) VALUES (%s, %s) "
                         "ON CONFLICT DO NOTHING", (self.consumer_name, envelope.id))
            result = issue_for_completion(conn, envelope, renderer=self.renderer, store=self.objects,
                                          public_base_url=self.public_base_url)
        return Issued(result.created, result.code, from_outbox)

    def record_failure(self, enrollment_id: uuid.UUID, error: str) -> None:
        with self.database.transaction() as conn:
            record_failure(conn, enrollment_id, error)


def sweep(database: Database, *, renderer: Renderer, store: Store, public_base_url: str, consumer_name: str,
          grace_s: float, batch: int, max_attempts: int,
          remaining_ms: Callable[[], int] | None = None) -> CertificateSweepReport:
    """One sweep with the production store (the function's wiring)."""
    objects = PostgresCertificateSweepStore(database, renderer=renderer, store=store,
                                            public_base_url=public_base_url, consumer_name=consumer_name)
    return CertificateSweeper(objects, grace_s=grace_s, batch=batch, max_attempts=max_attempts).run(remaining_ms)
