"""IngestFunction: S3 asset notifications and MSK course/asset events -> the AI index.

A thin translator. S3 ``Records`` (ObjectCreated / ObjectRemoved under ``courses/``) and MSK
batches (``eventSource == "aws:kafka"``: ``course.published``, ``asset.deleted``) are parsed and
handed to `smartcourse.ai.ingestion.IngestionService`; the Schedule event (EventBridge, ``source ==
"aws.events"``) runs the reconciliation sweep (`smartcourse.ai.reconcile`: lost uploads, documents
stuck processing, published versions never made live). Deterministic document problems are
recorded on the document (failed + reason) and the invocation succeeds; a dependency outage
raises (S3 path: the invocation is retried) or fails the record (MSK path: batchItemFailures).

Settings are read and the service built on the first invocation; the embedding model loads on
the first embedding and stays for the container's life.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcourse.ai.assets import AssetDeleted, CoursePublished, ObjectChange, parse_s3_event
from smartcourse.ai.bootstrap import build_service, build_sweeper, new_database
from smartcourse.ai.ingestion import IngestionService, IngestSettings, Outcome
from smartcourse.ai.reconcile import Sweeper
from smartcourse.assistant import erasure
from smartcourse.consumer import Consumer, wait_out_outages
from smartcourse.container import Container, container
from smartcourse.db import Database
from smartcourse.errors import DependencyUnavailable
from smartcourse.events import EventEnvelope
from smartcourse.observability import count, logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: IngestSettings
    #: the consumer's and the sweeper's transactions (processed_events + live switch) use their own
    #: connection: document statuses commit on the service's connection while a publish is in progress
    events_database: Database
    consumer: Consumer
    #: built when first needed (S3 client, embedder): a batch of duplicates never pays for them
    service: Container[IngestionService]
    sweeper: Container[Sweeper]


@container
def deps() -> Deps:
    """Built on the first invocation from IngestSettings (the model loads on the first embedding)."""
    s = load_settings(IngestSettings)
    events_db = new_database(s, "smartcourse-ingest-events")
    svc = Container(lambda: build_service(s))

    def on_published(conn: Any, envelope: EventEnvelope) -> None:
        svc().on_course_published(conn, CoursePublished.model_validate(envelope.data))

    def on_deleted(conn: Any, envelope: EventEnvelope) -> None:
        svc().on_asset_deleted(conn, AssetDeleted.model_validate(envelope.data))

    def on_user_deleted(conn: Any, envelope: EventEnvelope) -> None:
        # The AI side's part of an account deletion (the assistant owns no consumer of its own).
        erased = erasure.erase_user(conn, uuid.UUID(envelope.data["user_id"]))
        logger.info("user's assistant data erased", extra={"user_id": envelope.data["user_id"], **erased})

    consumer = Consumer(s.consumer_name, lambda: events_db,
                        {"course.published": on_published, "asset.deleted": on_deleted,
                         "user.deleted": on_user_deleted}, schema="ai", transient_wait_s=s.transient_wait_s)
    return Deps(s, events_db, consumer, svc, Container(lambda: build_sweeper(svc(), lambda: events_db, s)))


def service() -> IngestionService:
    return deps().service()


def handle_schedule(remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """One reconciliation sweep; its counts are the result (a dependency outage is counted in
    ``errors`` and retried by the next run)."""
    return deps().sweeper().run(remaining_ms).as_dict()


def outage_wait_s() -> float:
    return load_settings(IngestSettings).transient_wait_s


#: First pause before retrying an object while S3 or the database is out (doubles up to 8 s).
OUTAGE_BACKOFF_S = 0.5


class _OutageBudget:
    """The invocation's time for waiting out outages, from its first outage (settings read then)."""

    def __init__(self) -> None:
        self._until: float | None = None

    def until(self) -> float:
        if self._until is None:
            self._until = time.monotonic() + outage_wait_s()
        return self._until


def _created_waiting(svc: IngestionService, change: ObjectChange, budget: _OutageBudget,
                     remaining_ms: Callable[[], int] | None) -> Outcome | None:
    """`on_object_created`, retried with backoff while S3 or the database is out and time allows:
    a short outage must not use up the notification's few retries (3 receives, then its DLQ)."""

    def retrying(exc: Exception, delay: float) -> None:
        logger.warning("dependency unavailable: retrying the object", extra={"key": change.key, "retry_in_s": delay})

    return wait_out_outages(lambda: svc.on_object_created(change), until=budget.until, remaining_ms=remaining_ms,
                            backoff_s=OUTAGE_BACKOFF_S, on_retry=retrying,
                            retryable=lambda exc: isinstance(exc, DependencyUnavailable))


def handle_s3(event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    svc = service()
    summary = {"indexed": 0, "reused": 0, "failed": 0, "duplicates": 0, "skipped": 0, "removed": 0}
    outage: DependencyUnavailable | None = None
    budget = _OutageBudget()
    for change in parse_s3_event(event):
        try:
            if change.kind == "removed":
                svc.on_object_removed(change)
                summary["removed"] += 1
                continue
            outcome = _created_waiting(svc, change, budget, remaining_ms)
        except DependencyUnavailable as exc:  # keep going; fail the invocation at the end
            logger.exception("dependency unavailable; the event will be retried", extra={"key": change.key})
            outage = exc
            continue
        if outcome is None or outcome.status == "skipped":
            summary["skipped"] += 1
        elif outcome.work == "duplicate":
            summary["duplicates"] += 1
        elif outcome.status == "failed":
            summary["failed"] += 1
        elif outcome.work == "indexed":
            summary["indexed"] += 1
        else:
            summary["reused"] += 1
    for name, value in summary.items():
        count(f"Documents{name.capitalize()}", value)
    if outage is not None:
        raise outage
    return summary


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("eventSource") == "aws:kafka":
        return deps().consumer.handle(event, getattr(context, "get_remaining_time_in_millis", None))
    if "Records" in event:
        return handle_s3(event, getattr(context, "get_remaining_time_in_millis", None))
    if event.get("source") == "aws.events":
        return handle_schedule(getattr(context, "get_remaining_time_in_millis", None))
    raise ValueError("IngestFunction expects an S3 notification (Records), an MSK batch (eventSource aws:kafka) "
                     "or a Schedule event (source aws.events)")

coldstart.loaded()  # last: freeze what the import made, collection back on
