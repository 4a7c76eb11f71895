"""Reconciliation of the AI index: what a lost trigger left undone, redone on a schedule.

IngestFunction's Schedule event runs `Sweeper.run` (every 5 minutes). Each run, bounded to
``sweep_batch`` items per kind, oldest first:

a) **Uploads never indexed** (the S3 notification ended on its DLQ): LMS assets declared more than
   ``sweep_grace_s`` ago (and less than ``sweep_asset_window_s``) without any AI document are
   ingested through `IngestionService.ingest_object`, the S3 path's own entry. It dedupes on
   (asset, key, ETag, model): a late notification finds the document instead of adding one. An
   asset without an object yet is remembered (``ai.sweeper_asset_checks``) and looked at after the
   others next time.
b) **Documents stuck `processing`** (the worker died or the dependency outage outlasted every
   retry): a document ``processing`` for longer than ``sweep_stuck_after_s`` is claimed (its
   ``sweeper_attempts`` counted, in a conditional UPDATE: two sweeps never restart it twice) and
   ingested again; after ``sweep_max_attempts`` restarts it is marked ``failed``
   (``processing_interrupted``: "processing was interrupted N times; last error: ...").
c) **Published versions never made live** (``course.published`` dead-lettered): a course whose
   LMS published version (published more than ``sweep_grace_s`` ago) is newer than the AI side's
   live version goes through `IngestionService.on_course_published`, the consumer's own path
   (versions only move forward; repeating it changes nothing).
d) **Deletions never applied** (``asset.deleted`` dead-lettered): an asset the LMS deleted more than
   ``sweep_grace_s`` ago that is not in ``ai.deleted_assets`` goes through
   `IngestionService.on_asset_deleted` (its chunk sets purged, live ones included).

For c) and d) the LMS's own event id (read back from its outbox) is recorded in
``ai.processed_events`` in the same transaction, so the dead-lettered original, replayed later, is
a duplicate for the consumer.

Selection rules are plain functions here; the SQL lives in `PostgresSweepStore` (and the LMS
reads in `smartcourse.readonly.lms_facts`). The handler only translates. Time left, outages (they
end the run) and an item's own failure (recorded, the run goes on) are handled by
`smartcourse.sweeping.SweepRun`, as in the certificates sweeper.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from smartcourse.ai.assets import AssetDeleted, CoursePublished, InvalidAssetKey, parse_asset_key
from smartcourse.ai.ingestion import IngestionService, IngestSettings, Outcome
from smartcourse.db import Database
from smartcourse.observability import logger, measure
from smartcourse.readonly import lms_facts
from smartcourse.sweeping import SweepRun

SOURCE = "sweeper"
INTERRUPTED = "processing_interrupted"


@dataclass(frozen=True, slots=True)
class SweepLimits:
    grace_s: float = 600.0
    asset_window_s: float = 86_400.0
    stuck_after_s: float = 900.0
    max_attempts: int = 3
    batch: int = 20

    @classmethod
    def from_settings(cls, s: IngestSettings) -> SweepLimits:
        return cls(s.sweep_grace_s, s.sweep_asset_window_s, s.sweep_stuck_after_s, s.sweep_max_attempts,
                   s.sweep_batch)


@dataclass(frozen=True, slots=True)
class StuckDocument:
    id: uuid.UUID
    asset_id: uuid.UUID
    course_id: uuid.UUID
    s3_key: str
    attempts: int  # processing starts (each one interrupted, since the status is still processing)
    sweeper_attempts: int
    sweeper_last_error: str | None
    started_at: datetime | None


# --------------------------------------------------------------------------- rules (pure)


def stuck_action(doc: StuckDocument, max_attempts: int) -> Literal["retry", "give_up"]:
    """Restart an interrupted document until the sweeper has restarted it ``max_attempts`` times."""
    return "retry" if doc.sweeper_attempts < max_attempts else "give_up"


def interrupted_reason(doc: StuckDocument) -> str:
    times = max(doc.attempts, 1)
    last = doc.sweeper_last_error or "none recorded (the worker stopped without reporting one)"
    return f"processing was interrupted {times} time{'s' if times != 1 else ''}; last error: {last}"


def lagging(published: int, live: int | None) -> bool:
    """The AI side serves an older version than the LMS published (or none)."""
    return live is None or live < published


# --------------------------------------------------------------------------- ports


class SweepStore(Protocol):
    def unindexed_assets(self, limits: SweepLimits) -> list[lms_facts.UnindexedAsset]: ...

    def record_asset_check(self, asset_id: uuid.UUID, result: str) -> None: ...

    def stuck_documents(self, limits: SweepLimits) -> list[StuckDocument]: ...

    def claim_stuck(self, doc_id: uuid.UUID, limits: SweepLimits) -> StuckDocument | None: ...

    def give_up(self, doc: StuckDocument, limits: SweepLimits, message: str) -> bool: ...

    def record_restart_error(self, doc_id: uuid.UUID, message: str) -> None: ...

    def supersede_if_processing(self, doc_id: uuid.UUID, message: str) -> bool: ...

    def lagging_courses(self, limits: SweepLimits) -> list[lms_facts.PublishedVersion]: ...

    def deleted_not_purged(self, limits: SweepLimits) -> list[lms_facts.DeletedAsset]: ...


class Ingestor(Protocol):
    def ingest_key(self, s3_key: str) -> Outcome | None: ...

    def make_live(self, course: lms_facts.PublishedVersion) -> bool: ...

    def purge_deleted(self, asset: lms_facts.DeletedAsset) -> None: ...


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepReport:
    run: SweepRun
    assets: Counter[str] = field(default_factory=Counter)  # outcome work / code per asset looked at
    stuck_restarted: int = 0
    stuck_recovered: int = 0
    stuck_failed: int = 0
    courses_made_live: int = 0
    deletions_applied: int = 0

    @property
    def errors(self) -> list[str]:
        return self.run.errors

    @property
    def stopped_early(self) -> bool:
        return self.run.stopped_early

    def as_dict(self) -> dict[str, Any]:
        return {"assets": dict(self.assets), "stuck_restarted": self.stuck_restarted,
                "stuck_recovered": self.stuck_recovered, "stuck_failed": self.stuck_failed,
                "courses_made_live": self.courses_made_live, "deletions_applied": self.deletions_applied,
                **self.run.as_dict()}


#: Stop taking items when less than this is left of the invocation (one document's processing:
#: the ingest function's timeout is 900 s, a 100-page PDF takes well under a minute).
SAFETY_MS = 60_000


class Sweeper:
    def __init__(self, store: SweepStore, ingestor: Ingestor, limits: SweepLimits) -> None:
        self.store = store
        self.ingestor = ingestor
        self.limits = limits

    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepReport:
        """One sweep (`smartcourse.sweeping`: time, outages and failures are handled the same way
        in every sweeper); every item commits on its own: what is left waits for the next run."""
        report = SweepReport(SweepRun(SAFETY_MS, remaining_ms))
        # Stuck documents before the asset pass: it only looks at assets without any document.
        self._deleted(report)
        self._stuck(report)
        self._assets(report)
        self._courses(report)
        logger.info("reconciliation sweep done", extra={"sweep": report.as_dict()})
        _metrics(report)
        return report

    def _assets(self, report: SweepReport) -> None:
        run = report.run
        for asset in run.candidates(run.listing(lambda: self.store.unindexed_assets(self.limits))):
            try:
                outcome = self.ingestor.ingest_key(asset.s3_key)
            except Exception as exc:  # unexpected: recorded, and the asset goes to the back of the queue
                if not run.failed(f"asset {asset.asset_id}", exc):
                    self.store.record_asset_check(asset.asset_id, f"error: {type(exc).__name__}")
                continue
            if outcome is None:
                result = "invalid_key"
            elif outcome.status == "skipped":
                result = outcome.code or "skipped"
            else:
                result = outcome.work
            report.assets[result] += 1
            if outcome is None or outcome.status == "skipped":
                self.store.record_asset_check(asset.asset_id, result)
            else:
                logger.info("lost upload ingested by the sweeper",
                            extra={"asset_id": str(asset.asset_id), "work": outcome.work, "status": outcome.status})

    def _stuck(self, report: SweepReport) -> None:
        run = report.run
        for candidate in run.candidates(run.listing(lambda: self.store.stuck_documents(self.limits))):
            if stuck_action(candidate, self.limits.max_attempts) == "give_up":
                if self.store.give_up(candidate, self.limits, interrupted_reason(candidate)):
                    report.stuck_failed += 1
                    logger.warning("interrupted document marked failed",
                                   extra={"document_id": str(candidate.id), "reason": interrupted_reason(candidate)})
                continue
            doc = self.store.claim_stuck(candidate.id, self.limits)
            if doc is None:  # finished or claimed meanwhile
                continue
            report.stuck_restarted += 1
            try:
                outcome = self.ingestor.ingest_key(doc.s3_key)
            except Exception as exc:  # an outage, or a crash of the pipeline: kept as the last error
                self.store.record_restart_error(doc.id, f"{type(exc).__name__}: {exc}")
                run.failed(f"document {doc.id}", exc)
                continue
            if outcome is not None and outcome.document_id == doc.id and outcome.status in ("ready", "failed"):
                report.stuck_recovered += 1
                continue
            # The object changed (another ETag / model) or is gone: this document will never finish.
            why = (outcome.message or outcome.code) if outcome is not None else "the object key is invalid"
            if self.store.supersede_if_processing(doc.id, f"processing was interrupted and not resumed: {why}"):
                report.stuck_failed += 1

    def _courses(self, report: SweepReport) -> None:
        run = report.run
        for course in run.candidates(run.listing(lambda: self.store.lagging_courses(self.limits))):
            if not lagging(course.version, course.live_version):
                continue
            try:
                switched = self.ingestor.make_live(course)
            except Exception as exc:  # retried by the next run
                run.failed(f"course {course.course_id}", exc)
                continue
            if switched:
                report.courses_made_live += 1
                logger.info("published version made live by the sweeper",
                            extra={"course_id": str(course.course_id), "version": course.version,
                                   "live_version_before": course.live_version})

    def _deleted(self, report: SweepReport) -> None:
        run = report.run
        for asset in run.candidates(run.listing(lambda: self.store.deleted_not_purged(self.limits))):
            try:
                self.ingestor.purge_deleted(asset)
            except Exception as exc:  # retried by the next run
                run.failed(f"deleted asset {asset.asset_id}", exc)
                continue
            report.deletions_applied += 1
            logger.info("asset deletion applied by the sweeper", extra={"asset_id": str(asset.asset_id)})


def _metrics(report: SweepReport) -> None:
    values = {"SweepAssetsIngested": sum(n for k, n in report.assets.items()
                                         if k in ("indexed", "reused", "copied", "rejected", "duplicate")),
              "SweepAssetsWithoutObject": report.assets.get("object_missing", 0),
              "SweepStuckRestarted": report.stuck_restarted, "SweepStuckFailed": report.stuck_failed,
              "SweepCoursesMadeLive": report.courses_made_live,
              "SweepDeletionsApplied": report.deletions_applied, "SweepErrors": len(report.errors),
              "SweepOutage": int(report.run.outage is not None)}
    for name, value in values.items():
        measure(name, value)


# --------------------------------------------------------------------------- adapters

_STUCK_COLUMNS = ("id", "asset_id", "course_id", "s3_key", "attempts", "sweeper_attempts", "sweeper_last_error",
                  "started_at")
_STUCK_SELECT = ("SELECT id, asset_id, course_id, s3_key, attempts, sweeper_attempts, sweeper_last_error, "
                 "started_at FROM ai.documents ")


def _stuck_row(row: Any) -> StuckDocument:
    return StuckDocument(**row)


class PostgresSweepStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def unindexed_assets(self, limits: SweepLimits) -> list[lms_facts.UnindexedAsset]:
        with self.database.transaction() as conn:
            return lms_facts.unindexed_assets(conn, grace_s=limits.grace_s, window_s=limits.asset_window_s,
                                              limit=limits.batch)

    def record_asset_check(self, asset_id: uuid.UUID, result: str) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO ai.sweeper_asset_checks (asset_id, last_result) VALUES (%s, %s) "
                "ON CONFLICT (asset_id) DO UPDATE SET checks = ai.sweeper_asset_checks.checks + 1, "
                "last_checked_at = now(), last_result = EXCLUDED.last_result",
                (asset_id, result[:200]))

    def stuck_documents(self, limits: SweepLimits) -> list[StuckDocument]:
        with self.database.transaction() as conn:
            rows = conn.execute(
                _STUCK_SELECT + "WHERE status = 'processing' AND started_at < now() - make_interval(secs => %s) "
                "ORDER BY started_at, id LIMIT %s", (limits.stuck_after_s, limits.batch)).fetchall()
        return [_stuck_row(r) for r in rows]

    def claim_stuck(self, doc_id: uuid.UUID, limits: SweepLimits) -> StuckDocument | None:
        """Count a restart, only if the document is still stuck (started_at moves: another sweep
        running meanwhile does not pick it)."""
        with self.database.transaction() as conn:
            row = conn.execute(
                "UPDATE ai.documents SET sweeper_attempts = sweeper_attempts + 1, started_at = now(), "
                "updated_at = now() WHERE id = %s AND status = 'processing' "
                "AND started_at < now() - make_interval(secs => %s) AND sweeper_attempts < %s "
                "RETURNING " + ", ".join(_STUCK_COLUMNS),
                (doc_id, limits.stuck_after_s, limits.max_attempts)).fetchone()
        return _stuck_row(row) if row is not None else None

    def give_up(self, doc: StuckDocument, limits: SweepLimits, message: str) -> bool:
        with self.database.transaction() as conn:
            row = conn.execute(
                "UPDATE ai.documents SET status = 'failed', error_code = %s, error = %s, finished_at = now(), "
                "updated_at = now() WHERE id = %s AND status = 'processing' "
                "AND started_at < now() - make_interval(secs => %s) RETURNING id",
                (INTERRUPTED, message[:1000], doc.id, limits.stuck_after_s)).fetchone()
        return row is not None

    def record_restart_error(self, doc_id: uuid.UUID, message: str) -> None:
        with self.database.transaction() as conn:
            conn.execute("UPDATE ai.documents SET sweeper_last_error = %s WHERE id = %s", (message[:500], doc_id))

    def supersede_if_processing(self, doc_id: uuid.UUID, message: str) -> bool:
        with self.database.transaction() as conn:
            row = conn.execute(
                "UPDATE ai.documents SET status = 'failed', error_code = %s, error = %s, finished_at = now(), "
                "updated_at = now() WHERE id = %s AND status = 'processing' RETURNING id",
                (INTERRUPTED, message[:1000], doc_id)).fetchone()
        return row is not None

    def lagging_courses(self, limits: SweepLimits) -> list[lms_facts.PublishedVersion]:
        with self.database.transaction() as conn:
            return lms_facts.published_versions_not_live(conn, grace_s=limits.grace_s, limit=limits.batch)

    def deleted_not_purged(self, limits: SweepLimits) -> list[lms_facts.DeletedAsset]:
        with self.database.transaction() as conn:
            return lms_facts.deleted_assets_not_purged(conn, grace_s=limits.grace_s, limit=limits.batch)


class ServiceIngestor:
    """The ingestion service's own entries: the S3 path's `ingest_object` and the consumer's
    `on_course_published` (in a transaction of the events connection, as the consumer runs it)."""

    def __init__(self, service: IngestionService, events_database: Callable[[], Database],
                 consumer_name: str = "ingest") -> None:
        self.service = service
        self.events_database = events_database
        self.consumer_name = consumer_name

    def ingest_key(self, s3_key: str) -> Outcome | None:
        try:
            key = parse_asset_key(s3_key)
        except InvalidAssetKey:
            logger.warning("sweeper: asset key outside the layout", extra={"key": s3_key})
            return None
        return self.service.ingest_object(key, source=SOURCE)

    def make_live(self, course: lms_facts.PublishedVersion) -> bool:
        event = CoursePublished.model_validate({"course_id": course.course_id, "version": course.version,
                                                "published_at": course.published_at, "assets": course.assets})
        with self.events_database().transaction() as conn:
            self._processed(conn, lms_facts.event_id(conn, "smartcourse.course.published.v1", course.course_id,
                                                     data_key="version", data_value=str(course.version)))
            return self.service.on_course_published(conn, event).switched

    def purge_deleted(self, asset: lms_facts.DeletedAsset) -> None:
        event = AssetDeleted(asset_id=asset.asset_id, course_id=asset.course_id, s3_key=asset.s3_key)
        with self.events_database().transaction() as conn:
            self._processed(conn, lms_facts.event_id(conn, "smartcourse.asset.deleted.v1", asset.asset_id))
            self.service.on_asset_deleted(conn, event)

    def _processed(self, conn: Any, event_id: uuid.UUID | None) -> None:
        """The consumer's dedupe row for the LMS event whose work this is (as the consumer writes it)."""
        if event_id is not None:
            conn.execute("INSERT INTO ai.processed_events (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (self.consumer_name, event_id))
