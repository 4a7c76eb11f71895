"""NotificationsFunction: domain events from MSK (enrollment, course, certificate and user topics) ->
notifications in notify.* and their emails; its schedule sends the emails that are due through
SES. A thin translator over `smartcourse.notifications.service`.

The consumer framework gives each record one transaction with its notify.processed_events row
(a replayed or duplicated event adds nothing) and counts failures in notify.consumer_failures; a
record that failed MAX_ATTEMPTS times (default 6: the mapping's MaximumRetryAttempts 5 + 1) is
put on the `<prefix>.dlq` topic with its reason. Event types it does not handle are acknowledged.
The Schedule event (``source == "aws.events"``) tells instructors about uploads the AI side marked
failed (`service.notify_failed_uploads`, from a watermark), queues the digests that are due (at most
every 10 minutes, `service.build_digests`) and delivers queued emails (`service.deliver_due`).
The SNS event (``Records[*].EventSource == "aws:sns"``: SES bounces and complaints from the
configuration set's event destination) suppresses the addresses (`service.record_email_feedback`);
a message that is not SES feedback is logged, counted and skipped, a database error fails the
invocation (Lambda retries it, then AsyncFailuresQueue; the upserts make a retry harmless).
Settings, the database and the SES client are built on the first invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartcourse.auth import resolve_jwt_secret
from smartcourse.aws import client
from smartcourse.consumer import Consumer
from smartcourse.container import container, database_for
from smartcourse.db import Database
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.notifications.mailer import SesMailer
from smartcourse.notifications.service import (
    EmailLinks,
    build_digests,
    deliver_due,
    handlers,
    notify_failed_uploads,
    record_email_feedback,
)
from smartcourse.notifications.settings import NotificationsSettings
from smartcourse.observability import logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: NotificationsSettings
    database: Database
    mailer: SesMailer
    links: EmailLinks
    consumer: Consumer


@container
def deps() -> Deps:
    """Built on the first invocation from NotificationsSettings."""
    s = load_settings(NotificationsSettings)
    database = database_for(s, "smartcourse-notifications")
    links = EmailLinks(resolve_jwt_secret(s).encode(), s.public_base_url)
    consumer = Consumer(s.consumer_name, lambda: database, dict(handlers(links)), schema="notify",
                        max_attempts=s.max_attempts, dead_letter=KafkaDeadLetterSink(s),
                        transient_wait_s=s.transient_wait_s)
    mailer = SesMailer(client("sesv2", s), s.notifications_sender, s.email_configuration_set)
    return Deps(s, database, mailer, links, consumer)


def _sns_records(event: dict[str, Any]) -> list[dict[str, Any]] | None:
    records = event.get("Records")
    if isinstance(records, list) and records and all(
            isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records):
        return records
    return None


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    if event.get("source") == "aws.events":
        s = d.settings
        failed_uploads = notify_failed_uploads(d.database, d.links)
        digests = build_digests(d.database, d.links)
        sent = deliver_due(d.database, d.mailer, batch=s.email_batch, max_attempts=s.email_max_attempts,
                           retry_after_s=s.email_retry_after_s, stale_after_s=s.email_stale_after_s)
        return {**sent, **digests, "failed_uploads": failed_uploads}
    sns = _sns_records(event)
    if sns is not None:
        return record_email_feedback(d.database, [((r.get("Sns") or {}).get("MessageId"),
                                                   (r.get("Sns") or {}).get("Message")) for r in sns])
    return d.consumer.handle(event, getattr(context, "get_remaining_time_in_millis", None))
