"""NotificationsFunction: domain events from MSK (enrollment, course and certificate topics) ->
in-app notifications in notify.*. A thin translator over `smartcourse.notifications.service`.

The consumer framework gives each record one transaction with its notify.processed_events row
(a replayed or duplicated event adds nothing) and counts failures in notify.consumer_failures; a
record that failed MAX_ATTEMPTS times (default 6: the mapping's MaximumRetryAttempts 5 + 1) is
put on the `<prefix>.dlq` topic with its reason. Event types it does not handle are acknowledged.
Settings and the database are built on the first invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartcourse.consumer import Consumer
from smartcourse.container import container, database_for
from smartcourse.db import Database
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.notifications.service import HANDLERS
from smartcourse.notifications.settings import NotificationsSettings
from smartcourse.observability import logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: NotificationsSettings
    database: Database
    consumer: Consumer


@container
def deps() -> Deps:
    """Built on the first invocation from NotificationsSettings."""
    s = load_settings(NotificationsSettings)
    database = database_for(s, "smartcourse-notifications")
    consumer = Consumer(s.consumer_name, lambda: database, dict(HANDLERS), schema="notify",
                        max_attempts=s.max_attempts, dead_letter=KafkaDeadLetterSink(s),
                        transient_wait_s=s.transient_wait_s)
    return Deps(s, database, consumer)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    return d.consumer.handle(event, getattr(context, "get_remaining_time_in_millis", None))
