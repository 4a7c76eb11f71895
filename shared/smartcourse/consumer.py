"""The consumer framework for MSK-triggered functions: act once, lose nothing.

`Consumer.handle(event)` turns an MSK event (records grouped by topic-partition, base64 key and
value, headers) into validated `EventEnvelope`s with Powertools' `KafkaEvent`, and runs the
handler registered for each event's name in ONE transaction that also inserts
`<schema>.processed_events(consumer, event_id)`. A duplicate delivery finds the row and has no
second effect; two concurrent deliveries serialise on the row's key.

Failures are reported as `batchItemFailures` (itemIdentifier = {partition: "topic-p", offset}).
Within a partition, once a record fails, the later records of that partition are reported as
failed too (not run), so per-aggregate order holds when the mapping retries. A record that keeps
failing goes, after the mapping's MaximumRetryAttempts, to its on-failure destination (the
`.dlq` topic), with the error in its headers. Unparseable records fail with `PoisonRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from pydantic import ValidationError

from smartcourse.db import Database
from smartcourse.events import EventEnvelope
from smartcourse.observability import MetricUnit, correlation_scope, logger, metrics

Handler = Callable[[psycopg.Connection[Any], EventEnvelope], None]


class PoisonRecord(Exception):
    """The record is not a valid event envelope: retrying cannot help."""


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": self.failures}


def parse_envelope(raw: bytes) -> EventEnvelope:
    try:
        return EventEnvelope.model_validate(json.loads(raw))
    except (ValueError, ValidationError, TypeError) as exc:
        raise PoisonRecord(f"not a valid event envelope: {exc}"[:500]) from exc


class Consumer:
    def __init__(self, name: str, database: Callable[[], Database], handlers: dict[str, Handler], *,
                 schema: Literal["lms", "ai"]) -> None:
        self.name = name
        self._database = database
        self.handlers = handlers
        self._insert = (
            f"INSERT INTO {schema}.processed_events (consumer, event_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        )

    def process_envelope(self, envelope: EventEnvelope) -> bool:
        """Run the handler once per (consumer, event id). Returns False for a duplicate."""
        handler = self.handlers[envelope.name]
        with self._database().transaction() as conn:
            first = conn.execute(self._insert, (self.name, envelope.id)).fetchone()  # type: ignore[arg-type]
            if first is None:
                return False
            handler(conn, envelope)
        return True

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.run(event).response()

    def run(self, event: dict[str, Any]) -> BatchResult:
        result = BatchResult()
        failed_partitions: set[str] = set()
        for record in KafkaEvent(event).records:
            tp = f"{record.topic}-{record.partition}"
            ident = {"itemIdentifier": {"partition": tp, "offset": record.offset}}
            if tp in failed_partitions:
                result.failures.append(ident)
                continue
            try:
                envelope = parse_envelope(record.decoded_value)
                if envelope.name not in self.handlers:
                    result.skipped += 1
                    continue
                with correlation_scope(envelope.correlation_id):
                    logger.append_keys(event_id=str(envelope.id), event_type=envelope.type)
                    try:
                        if self.process_envelope(envelope):
                            result.processed += 1
                        else:
                            result.duplicates += 1
                            logger.info("duplicate delivery ignored")
                    finally:
                        logger.remove_keys(["event_id", "event_type"])
            except Exception as exc:  # reported to the mapping, which retries then dead-letters
                failed_partitions.add(tp)
                result.failures.append(ident)
                logger.exception("record failed", extra={"topic_partition": tp, "offset": record.offset,
                                                         "error_type": type(exc).__name__})
        metrics.add_metric(name=f"{self.name}.processed", unit=MetricUnit.Count, value=result.processed)
        metrics.add_metric(name=f"{self.name}.duplicates", unit=MetricUnit.Count, value=result.duplicates)
        metrics.add_metric(name=f"{self.name}.failed", unit=MetricUnit.Count, value=len(result.failures))
        return result
