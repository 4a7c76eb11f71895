"""NotificationsFunction: domain events from MSK (enrollment, course, certificate and user topics) ->
notifications in notify.* and their emails; its schedule sends the emails that are due through
SES. A thin translator over `smartcourse.notifications.service`.

The consumer framework gives each record one transaction with its notify.processed_events row
(a replayed or duplicated event adds nothing) and counts failures in notify.consumer_failures; a
record that failed MAX_ATTEMPTS times (default 6: the mapping's MaximumRetryAttempts 5 + 1) is
put on the `<prefix>.dlq` topic with its reason. Event types it does not handle are acknowledged.
The Schedule event (``source == "aws.events"``) tells instructors about uploads the AI side marked
failed (`service.notify_failed_uploads`, from a watermark), queues the digests that are due (at most
every 10 minutes, `service.build_digests`) and delivers queued emails (`service.deliver_due`) and
text messages through SNS (`service.deliver_due_sms`: notifications, phone verification codes).
After a batch from the user topic, the phone verification codes it queued are texted at once.
The SNS event (``Records[*].EventSource == "aws:sns"``: SES bounces and complaints from the
configuration set's event destination) suppresses the addresses (`service.record_email_feedback`);
a message that is not SES feedback is logged, counted and skipped, a database error fails the
invocation (Lambda retries it, then AsyncFailuresQueue; the upserts make a retry harmless).
Settings, the database and the SES and SNS clients are built on the first invocation.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

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
    deliver_due_sms,
    handlers,
    notify_failed_uploads,
    record_email_feedback,
)
from smartcourse.notifications.settings import NotificationsSettings
from smartcourse.notifications.texter import SnsTexter
from smartcourse.observability import logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: NotificationsSettings
    database: Database
    mailer: SesMailer
    texter: SnsTexter
    links: EmailLinks
    consumer: Consumer


@container
def deps() -> Deps:
    """Built on the first invocation from NotificationsSettings."""
    s = load_settings(NotificationsSettings)
    database = database_for(s, "smartcourse-notifications")
    app_url = None if s.cors_allow_origin == "*" else s.cors_allow_origin  # the web app (WebOrigin)
    links = EmailLinks(resolve_jwt_secret(s).encode(), s.public_base_url, app_url)
    consumer = Consumer(s.consumer_name, lambda: database, dict(handlers(links)), schema="notify",
                        max_attempts=s.max_attempts, dead_letter=KafkaDeadLetterSink(s),
                        transient_wait_s=s.transient_wait_s)
    mailer = SesMailer(client("sesv2", s), s.notifications_sender, s.email_configuration_set)
    texter = SnsTexter(client("sns", s), s.sms_sender_id)
    return Deps(s, database, mailer, texter, links, consumer)


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
        texts = deliver_due_sms(d.database, d.texter, d.links.key, batch=s.email_batch,
                                max_attempts=s.email_max_attempts, retry_after_s=s.email_retry_after_s,
                                stale_after_s=s.email_stale_after_s)
        return {**sent, **texts, **digests, "failed_uploads": failed_uploads}
    sns = _sns_records(event)
    if sns is not None:
        return record_email_feedback(d.database, [((r.get("Sns") or {}).get("MessageId"),
                                                   (r.get("Sns") or {}).get("Message")) for r in sns])
    result = d.consumer.handle(event, getattr(context, "get_remaining_time_in_millis", None))
    if _from_user_topic(event, d.settings.topic_prefix):
        _text_codes_now(d)
    return result


def _from_user_topic(event: dict[str, Any], prefix: str) -> bool:
    """Whether an MSK batch holds records of the user topic (account links, phone codes, deletions)."""
    records = event.get("records")
    return isinstance(records, dict) and any(str(k).startswith(f"{prefix}.user-") for k in records)


def _text_codes_now(d: Deps) -> None:
    """Phone verification codes the batch queued go out now, not at the next minute's schedule (the
    user is waiting with the code field open). The batch is already committed: a failure here is
    logged and left to the schedule, which sends what is still due."""
    s = d.settings
    try:
        deliver_due_sms(d.database, d.texter, d.links.key, batch=s.email_batch, max_attempts=s.email_max_attempts,
                        retry_after_s=s.email_retry_after_s, stale_after_s=s.email_stale_after_s, codes_only=True)
    except Exception:
        logger.exception("phone codes not texted now; the schedule will")

coldstart.loaded()  # last: freeze what the import made, collection back on
