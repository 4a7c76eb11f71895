"""CertificatesFunction: `course.completed` from MSK -> a certificate (PDF in S3, lms.certificates,
`certificate.issued` in the outbox). A thin translator over `smartcourse.certificates.service`.

The consumer framework gives each record one transaction with its processed_events row and
counts failures in lms.consumer_failures. A record that failed MAX_ATTEMPTS times (default 6: the
mapping's MaximumRetryAttempts 5 + 1) is put on the `<prefix>.dlq` topic with its reason in the
headers (e.g. `x-failure-reason: RenderError: no bundled font can draw ...`); before that it is
reported in batchItemFailures and the mapping retries it. Settings, the database, the renderer and
the S3 client are built on the first invocation.

The Schedule event (EventBridge, ``source == "aws.events"``) runs the reconciliation sweep
(`smartcourse.certificates.reconcile.sweep`): completions older than the grace period without a
certificate are issued through the same path, e.g. after their event was dead-lettered.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from dataclasses import dataclass
from typing import Any

from smartcourse.aws import client
from smartcourse.certificates.objects import S3CertificateStore
from smartcourse.certificates.reconcile import sweep
from smartcourse.certificates.render import PdfRenderer
from smartcourse.certificates.service import issue_for_completion
from smartcourse.certificates.settings import CertificatesSettings
from smartcourse.consumer import Consumer
from smartcourse.container import container, database_for
from smartcourse.db import Database
from smartcourse.events import EventEnvelope
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.observability import logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: CertificatesSettings
    database: Database
    renderer: PdfRenderer
    store: S3CertificateStore
    consumer: Consumer


@container
def deps() -> Deps:
    """Built on the first invocation from CertificatesSettings."""
    s = load_settings(CertificatesSettings)
    database = database_for(s, "smartcourse-certificates")
    renderer = PdfRenderer()
    store = S3CertificateStore(client("s3", s), s.certificates_bucket)

    def on_completed(conn: Any, envelope: EventEnvelope) -> None:
        issue_for_completion(conn, envelope, renderer=renderer, store=store, public_base_url=s.public_base_url)

    consumer = Consumer(s.consumer_name, lambda: database, {"course.completed": on_completed}, schema="lms",
                        max_attempts=s.max_attempts, dead_letter=KafkaDeadLetterSink(s),
                        transient_wait_s=s.transient_wait_s)
    return Deps(s, database, renderer, store, consumer)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if event.get("source") == "aws.events":
        s = d.settings
        return sweep(d.database, renderer=d.renderer, store=d.store, public_base_url=s.public_base_url,
                     consumer_name=s.consumer_name, grace_s=s.sweep_grace_s, batch=s.sweep_batch,
                     max_attempts=s.sweep_max_attempts, remaining_ms=remaining_ms).as_dict()
    return d.consumer.handle(event, remaining_ms)

coldstart.loaded()  # last: freeze what the import made, collection back on
