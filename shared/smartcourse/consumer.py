"""The consumer framework for MSK-triggered functions: act once, lose nothing.

`Consumer.handle(event)` turns an MSK event (records grouped by topic-partition, base64 key and
value, headers; `smartcourse.msk`) into validated `EventEnvelope`s, and runs the
handler registered for each event's name in ONE transaction that also inserts
`<schema>.processed_events(consumer, event_id)`. A duplicate delivery finds the row and has no
second effect; two concurrent deliveries serialise on the row's key.

Failures are reported as `batchItemFailures` (itemIdentifier = {partition: "topic-p", offset}).
Within a partition, once a record fails, the later records of that partition are reported as
failed too (not run), so per-aggregate order holds when the mapping retries. Unparseable records
fail with `PoisonRecord`.

Every failure is counted, with its error, in `<schema>.consumer_failures` (its own transaction,
after the handler's rolled back). With a `dead_letter` sink (e.g.
`smartcourse.kafka_client.KafkaDeadLetterSink`, the `<prefix>.dlq` topic), a record that has failed
`max_attempts` times is sent there with its reason in the headers (`x-failure-reason`,
`x-error-type`, `x-consumer`, `x-source-topic|partition|offset`, `x-attempts`) and reported as
done, so the rest of its partition goes on. Keep `max_attempts` <= the mapping's
MaximumRetryAttempts + 1; the mapping's own on-failure destination stays the backstop (for a
failing sink or database), but it cannot know the reason.

A dependency outage (`is_transient`: `DependencyUnavailable`, or an exception class with
`transient = True`, e.g. the certificates bucket not answering) is not the record's fault: with
`transient_wait_s`, the invocation retries that record itself with backoff for up to that long
(and never closer than `TRANSIENT_SAFETY_MS` to the Lambda deadline) before reporting it failed.
Without it, an outage longer than the mapping's few quick retries would push every record in
flight to the dead-letter topic (found by fault injection: an S3 outage of 15 s dead-lettered
course.completed events, i.e. lost certificates).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import psycopg
from pydantic import ValidationError

from smartcourse import msk, xray
from smartcourse.db import Database
from smartcourse.errors import DependencyUnavailable
from smartcourse.events import EventEnvelope
from smartcourse.observability import child_traceparent, correlation_scope, count, logger, measure, parse_traceparent

Handler = Callable[[psycopg.Connection[Any], EventEnvelope], None]
#: Never wait out an outage closer than this to the invocation's deadline.
TRANSIENT_SAFETY_MS = 5_000


#: Backoff between retries while a dependency is out: doubles from the first pause up to this.
MAX_OUTAGE_BACKOFF_S = 8.0
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """A dependency outage: the same record can succeed once the dependency is back."""
    return isinstance(exc, DependencyUnavailable) or getattr(type(exc), "transient", False) is True


def wait_out_outages(call: Callable[[], T], *, until: Callable[[], float], remaining_ms: Callable[[], int] | None,
                     backoff_s: float, on_retry: Callable[[Exception, float], None],
                     retryable: Callable[[BaseException], bool] = is_transient,
                     sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried with doubling backoff while it raises a `retryable` error, as long as the
    next try starts before `until()` (a `time.monotonic()` instant) and at least
    TRANSIENT_SAFETY_MS before the Lambda deadline (`remaining_ms`, the context's
    `get_remaining_time_in_millis`); then the last error is raised. The consumers (a record) and
    the S3 path of IngestFunction (an object) wait out outages this one way."""
    delay = backoff_s
    while True:
        try:
            return call()
        except Exception as exc:
            if not retryable(exc) or time.monotonic() + delay > until():
                raise
            if remaining_ms is not None and remaining_ms() - delay * 1000 < TRANSIENT_SAFETY_MS:
                raise
            on_retry(exc, delay)
            sleep(delay)
            delay = min(delay * 2, MAX_OUTAGE_BACKOFF_S)


@dataclass(frozen=True)
class DeadLetter:
    """A record given up on: the original key, value and headers, and why."""

    consumer: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    error_type: str
    reason: str
    attempts: int

    def dead_letter_headers(self) -> list[tuple[str, bytes]]:
        return [*self.headers,
                ("x-failure-reason", self.reason[:1000].encode()),
                ("x-error-type", self.error_type.encode()),
                ("x-consumer", self.consumer.encode()),
                ("x-source-topic", self.topic.encode()),
                ("x-source-partition", str(self.partition).encode()),
                ("x-source-offset", str(self.offset).encode()),
                ("x-attempts", str(self.attempts).encode()),
                ("x-failed-at", datetime.now(UTC).isoformat().encode())]


DeadLetterSink = Callable[[DeadLetter], None]


class PoisonRecord(Exception):
    """The record is not a valid event envelope: retrying cannot help."""


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    transient_retries: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": self.failures}


def parse_envelope(raw: bytes) -> EventEnvelope:
    try:
        return EventEnvelope.model_validate(json.loads(raw))
    except (ValueError, ValidationError, TypeError) as exc:
        raise PoisonRecord(f"not a valid event envelope: {exc}"[:500]) from exc


def record_value(record: msk.MskRecord) -> bytes:
    """The record's value; one that cannot be decoded (or a tombstone) makes it a poison record."""
    try:
        value = record.decoded_value
    except msk.MalformedRecord as exc:
        raise PoisonRecord(str(exc)[:500]) from exc
    if value is None:
        raise PoisonRecord("record has no value (tombstone)")
    return value


def record_headers(record: msk.MskRecord) -> dict[str, bytes]:
    try:
        return record.decoded_headers
    except msk.MalformedRecord as exc:
        raise PoisonRecord(str(exc)[:500]) from exc


def dead_letter_fields(record: msk.MskRecord) -> dict[str, Any]:
    """Key, value and headers for the dead-letter topic: decoded, or the text as delivered when it
    does not decode (the record is kept whatever it holds)."""
    out: dict[str, Any] = {}
    for name, delivered in (("key", record.key), ("value", record.value)):
        try:
            out[name] = getattr(record, f"decoded_{name}")
        except msk.MalformedRecord:
            out[name] = None if delivered is None else delivered.encode()
    try:
        out["headers"] = list(record.decoded_headers.items())
    except msk.MalformedRecord:
        out["headers"] = []
    return out


class Consumer:
    def __init__(self, name: str, database: Callable[[], Database], handlers: dict[str, Handler], *,
                 schema: Literal["lms", "ai", "notify", "analytics"], max_attempts: int = 3,
                 dead_letter: DeadLetterSink | None = None, transient_wait_s: float = 0.0,
                 transient_backoff_s: float = 0.5) -> None:
        if schema not in ("lms", "ai", "notify", "analytics"):
            raise ValueError(f"schema must be 'lms', 'ai', 'notify' or 'analytics', not {schema!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.name = name
        self._database = database
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.dead_letter = dead_letter
        self.transient_wait_s = transient_wait_s
        self.transient_backoff_s = transient_backoff_s
        self._insert = (
            f"INSERT INTO {schema}.processed_events (consumer, event_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        )
        self._record_failure = (
            f"INSERT INTO {schema}.consumer_failures AS f (consumer, topic, kafka_partition, kafka_offset, "
            "event_id, error_type, last_error) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (consumer, topic, kafka_partition, kafka_offset) DO UPDATE SET "
            "attempts = f.attempts + 1, error_type = EXCLUDED.error_type, last_error = EXCLUDED.last_error, "
            "last_failed_at = now() RETURNING attempts, dead_lettered_at IS NOT NULL AS dead"
        )
        self._mark_dead = (
            f"UPDATE {schema}.consumer_failures SET dead_lettered_at = now() "
            "WHERE consumer = %s AND topic = %s AND kafka_partition = %s AND kafka_offset = %s"
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

    def handle(self, event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
        """`remaining_ms`: the Lambda context's `get_remaining_time_in_millis` (bounds the waits)."""
        return self.run(event, remaining_ms).response()

    def _process_waiting(self, envelope: EventEnvelope, wait_until: float,
                         remaining_ms: Callable[[], int] | None, result: BatchResult) -> bool:
        """`process_envelope`, retried with backoff while a dependency is out and time allows."""

        def retrying(exc: Exception, delay: float) -> None:
            result.transient_retries += 1
            logger.warning("dependency unavailable: retrying the record", extra={
                "error_type": type(exc).__name__, "retry_in_s": delay})

        return wait_out_outages(lambda: self.process_envelope(envelope), until=lambda: wait_until,
                                remaining_ms=remaining_ms, backoff_s=self.transient_backoff_s, on_retry=retrying)

    def run(self, event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> BatchResult:
        result = BatchResult()
        wait_until = time.monotonic() + self.transient_wait_s
        failed_partitions: set[str] = set()
        for record in msk.records(event):
            tp = f"{record.topic}-{record.partition}"
            ident = {"itemIdentifier": {"partition": tp, "offset": record.offset}}
            if tp in failed_partitions:
                result.failures.append(ident)
                continue
            envelope: EventEnvelope | None = None
            try:
                envelope = parse_envelope(record_value(record))
                if envelope.name not in self.handlers:
                    result.skipped += 1
                    continue
                # the producer's trace continues here: this record's span is its child, linked to it
                link = record_headers(record).get("traceparent")
                link_text = bytes(link).decode("ascii", "replace") if link is not None else None
                ids = {k: envelope.data.get(k) for k in ("course_id", "enrollment_id", "asset_id")}
                linked = parse_traceparent(link_text)
                with correlation_scope(envelope.correlation_id, traceparent=child_traceparent(link_text),
                                       link=link_text), \
                        xray.subsegment(f"{self.name} {envelope.name}", event_type=envelope.name,
                                        event_id=str(envelope.id), correlation_id=envelope.correlation_id,
                                        w3c_trace_id=linked[0] if linked else None, **ids):
                    logger.append_keys(event_id=str(envelope.id), event_type=envelope.type)
                    try:
                        if self._process_waiting(envelope, wait_until, remaining_ms, result):
                            result.processed += 1
                            logger.info("record processed", extra={"topic_partition": tp, "offset": record.offset})
                        else:
                            result.duplicates += 1
                            logger.info("duplicate delivery ignored")
                    finally:
                        logger.remove_keys(["event_id", "event_type"])
            except Exception as exc:  # counted; dead-lettered after max_attempts, else retried by the mapping
                logger.exception("record failed", extra={"topic_partition": tp, "offset": record.offset,
                                                         "error_type": type(exc).__name__})
                if self._give_up(record, envelope, exc):
                    result.dead_lettered += 1
                    continue
                failed_partitions.add(tp)
                result.failures.append(ident)
        count("ConsumerProcessed", result.processed)
        count("ConsumerDuplicates", result.duplicates)
        measure("ConsumerFailed", len(result.failures))
        measure("ConsumerDeadLettered", result.dead_lettered)
        count("ConsumerTransientRetries", result.transient_retries)
        return result

    def _give_up(self, record: msk.MskRecord, envelope: EventEnvelope | None, exc: Exception) -> bool:
        """Count the failure; True if the record was dead-lettered (then it counts as done)."""
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        key = (self.name, record.topic, record.partition, record.offset)
        try:
            with self._database().transaction() as conn:
                row = conn.execute(self._record_failure, (*key, envelope.id if envelope else None,
                                                          type(exc).__name__, reason)).fetchone()
            assert row is not None  # an upsert RETURNING always answers one row
            attempts = int(row["attempts"])
            already_dead = bool(row["dead"])
        except Exception:  # the ledger is best effort: the mapping still retries and dead-letters
            logger.warning("could not record the failure", exc_info=True)
            return False
        if self.dead_letter is None or attempts < self.max_attempts:
            return False
        if already_dead:  # sent before, but that invocation failed afterwards: do not send it twice
            logger.warning("record was dead-lettered already", extra={"offset": record.offset})
            return True
        try:
            self.dead_letter(DeadLetter(
                consumer=self.name, topic=record.topic, partition=record.partition, offset=record.offset,
                **dead_letter_fields(record),
                error_type=type(exc).__name__, reason=reason, attempts=attempts))
        except Exception:
            logger.exception("dead-lettering failed; the record stays failed")
            return False
        try:
            with self._database().transaction() as conn:
                conn.execute(self._mark_dead, key)
        except Exception:
            logger.warning("could not mark the failure dead-lettered", exc_info=True)
        logger.error("record dead-lettered", extra={"topic": record.topic, "partition": record.partition,
                                                    "offset": record.offset, "attempts": attempts,
                                                    "reason": reason})
        return True
