"""The outbox relay: lms.outbox -> Kafka, at least once, in order per aggregate.

One pass (`Relay.run_once`) is one database transaction:

1. select up to `batch_size` due rows (`published_at IS NULL AND parked_at IS NULL AND
   next_attempt_at <= now()`) in seq order `FOR UPDATE SKIP LOCKED`;
2. take `pg_try_advisory_xact_lock(7302, hashtext(aggregate))` for each aggregate in the batch and
   drop the aggregates another relay holds;
3. drop every row that has an earlier unpublished row of its aggregate outside this batch (held by
   another relay, parked, or waiting for its backoff): an aggregate's rows leave strictly in seq order;
4. send each row (key = aggregate id, value = the envelope JSON, headers = event id, type, aggregate
   type, correlation id) with the idempotent producer, flush, check every future;
5. mark the acknowledged rows published, park the unpublishable ones, back off the failed ones, commit.

A crash between 4 and 5 rolls the transaction back: the rows are sent again on the next pass
(consumers dedupe by event id). Migration 0030's insert trigger makes seq order = commit order
per aggregate, so a row can never become visible behind a later row of its aggregate.

Parking: a row that can never be published (larger than the broker's max message size, not a
valid envelope, invalid topic name) gets `parked_at` + `park_reason`. Rows of OTHER aggregates go
on; later rows of the SAME aggregate wait behind it (step 3) until an operator republishes it
(`python -m smartcourse.ops republish`) or skips it (`ops skip`): order is never broken silently.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import psycopg
from pydantic import Field, ValidationError

from smartcourse.db import Database
from smartcourse.events import EventEnvelope, topic_for
from smartcourse.observability import count, event_metric, logger, measure, parse_traceparent
from smartcourse.settings import CommonSettings, KafkaSettings

RELAY_LOCK_NAMESPACE = 7302  # pg_try_advisory_xact_lock(7302, hashtext(aggregate)); writers use 7301


class RelaySettings(CommonSettings, KafkaSettings):
    """OutboxRelayFunction's settings (env names = upper-case field names)."""

    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_idle_sleep_ms: int = Field(default=100, ge=0, le=10_000)
    # Stop polling when the invocation has less than this left (one pass must fit in it).
    relay_safety_margin_ms: int = Field(default=20_000, ge=0)
    # Upper bound of one invocation's polling loop; 0 = until the Lambda time budget is spent.
    relay_max_duration_s: float = Field(default=0, ge=0)
    relay_backoff_base_ms: int = Field(default=1_000, ge=1)
    relay_backoff_max_ms: int = Field(default=30_000, ge=1)
    # Equal to the brokers' message.max.bytes (MSK default 1 MiB): bigger rows are parked.
    kafka_max_message_bytes: int = Field(default=1_048_576, ge=1024)
    kafka_request_timeout_ms: int = Field(default=5_000, ge=100)
    kafka_delivery_timeout_ms: int = Field(default=10_000, ge=200)
    kafka_max_block_ms: int = Field(default=3_000, ge=100)
    outbox_retention_hours: float = Field(default=168, gt=0)
    outbox_retention_mode: Literal["delete", "archive"] = "delete"
    outbox_prune_batch: int = Field(default=5_000, ge=1)


class Producer(Protocol):
    def send(self, topic: str, value: Any = None, key: Any = None, headers: Any = None) -> Any: ...
    def flush(self, timeout: float | None = None) -> None: ...
    def close(self, timeout: float | None = None) -> None: ...


class Unpublishable(Exception):
    """This row can never be published as it is: park it."""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    id: Any
    event_type: str
    aggregate_type: str
    aggregate_id: str
    correlation_id: str | None
    payload: str
    attempts: int
    traceparent: str | None = None

    @property
    def aggregate(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class PassResult:
    selected: int = 0
    published: list[int] = field(default_factory=list)
    published_types: list[str] = field(default_factory=list)
    parked: list[tuple[int, str]] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    held_back: int = 0  # rows left for later: aggregate held by another relay or behind an earlier row
    error: str | None = None


@dataclass
class RunStats:
    passes: int = 0
    published: int = 0
    parked: int = 0
    failed: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    pruned: int = 0
    events: Counter[str] = field(default_factory=Counter)  # published rows by event type


def build_message(row: OutboxRow, topic_prefix: str) -> Message:
    """Validate the stored envelope and shape the Kafka message. Raises Unpublishable."""
    try:
        envelope = EventEnvelope.model_validate_json(row.payload)
    except ValidationError as exc:
        raise Unpublishable(f"payload is not a valid event envelope: {exc.errors()[0]['msg']}") from None
    if str(envelope.id) != str(row.id) or envelope.aggregate_id != row.aggregate_id \
            or envelope.aggregate_type != row.aggregate_type or envelope.type != row.event_type:
        raise Unpublishable("payload does not match the row's id / type / aggregate columns")
    headers = [
        ("id", str(row.id).encode()),
        ("event_type", row.event_type.encode()),
        ("aggregate_type", row.aggregate_type.encode()),
    ]
    if row.correlation_id:
        headers.append(("correlation_id", row.correlation_id.encode()))
    if row.traceparent:  # W3C Trace Context over Kafka: the consumer continues the producer's trace
        headers.append(("traceparent", row.traceparent.encode()))
    return Message(topic_for(row.aggregate_type, topic_prefix), row.aggregate_id.encode(), row.payload.encode(),
                   headers)


def _kafka_errors() -> tuple[tuple[type[BaseException], ...], type[BaseException]]:
    """(permanent broker errors, KafkaError base): imported lazily to keep imports cheap."""
    from kafka import errors as ke

    permanent = (ke.MessageSizeTooLargeError, ke.RecordListTooLargeError, ke.InvalidRecordError,
                 ke.CorruptRecordError, ke.InvalidTopicError, ke.InvalidTimestampError)
    return permanent, ke.KafkaError


def default_producer_factory(settings: RelaySettings) -> Callable[[], Producer]:
    def make() -> Producer:
        from smartcourse.kafka_client import new_producer

        producer: Producer = new_producer(
            settings,
            max_request_size=settings.kafka_max_message_bytes,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            delivery_timeout_ms=settings.kafka_delivery_timeout_ms,
            max_block_ms=settings.kafka_max_block_ms,
            bootstrap_timeout_ms=settings.kafka_max_block_ms,
            allow_auto_create_topics=False,
            client_id=f"outbox-relay-{settings.stage}",
        )
        return producer

    return make


_SELECT = """
SELECT seq, id, event_type, aggregate_type, aggregate_id, correlation_id, payload::text AS payload, attempts,
       traceparent, hashtext(aggregate_type || '/' || aggregate_id) AS agg_key
FROM lms.outbox o
WHERE published_at IS NULL AND parked_at IS NULL AND next_attempt_at <= now()
  -- not behind a parked or backing-off row of its aggregate (those rows wait; they must not
  -- fill every batch and starve the other aggregates)
  AND NOT EXISTS (SELECT 1 FROM lms.outbox p
                  WHERE p.aggregate_type = o.aggregate_type AND p.aggregate_id = o.aggregate_id
                    AND p.published_at IS NULL AND p.seq < o.seq
                    AND (p.parked_at IS NOT NULL OR p.next_attempt_at > now()))
ORDER BY seq
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""
_LOCK = "SELECT k FROM unnest(%s::int[]) AS k WHERE pg_try_advisory_xact_lock(%s, k)"
_BLOCKERS = """
SELECT o.aggregate_type, o.aggregate_id, min(o.seq) AS first_blocker
FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS a(aggregate_type, aggregate_id, max_seq)
JOIN lms.outbox o ON o.aggregate_type = a.aggregate_type AND o.aggregate_id = a.aggregate_id
                 AND o.seq < a.max_seq AND o.published_at IS NULL
WHERE NOT (o.seq = ANY(%s::bigint[]))
GROUP BY 1, 2
"""
_MARK_PUBLISHED = "UPDATE lms.outbox SET published_at = now(), last_error = NULL WHERE seq = ANY(%s)"
_PARK = "UPDATE lms.outbox SET parked_at = now(), park_reason = %s, last_error = %s WHERE seq = %s"
_BACKOFF = """
UPDATE lms.outbox
SET attempts = attempts + 1, last_error = %s,
    next_attempt_at = now() + make_interval(secs => least(%s::float8, %s::float8 * power(2, attempts))
                                                     * (0.8 + random() * 0.4))
WHERE seq = ANY(%s)
"""
_OLDEST = """
SELECT extract(epoch FROM now() - min(created_at))::float8 AS age,
       (SELECT count(*) FROM lms.outbox WHERE parked_at IS NOT NULL AND published_at IS NULL) AS parked
FROM lms.outbox WHERE published_at IS NULL AND parked_at IS NULL
"""


class Relay:
    def __init__(self, settings: RelaySettings, database: Database,
                 producer_factory: Callable[[], Producer] | None = None) -> None:
        self.settings = settings
        self.database = database
        self._factory = producer_factory or default_producer_factory(settings)
        self._producer: Producer | None = None
        self._permanent, self._kafka_error = _kafka_errors()

    # -- producer ----------------------------------------------------------------------------
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = self._factory()
        return self._producer

    def discard_producer(self) -> None:
        """After a delivery failure: drop pending sends (no late duplicates) and reconnect later."""
        if self._producer is not None:
            try:
                self._producer.close(0)
            except Exception:  # closing a broken producer must not mask the original failure
                logger.warning("closing the producer failed", exc_info=True)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(5)
            self._producer = None

    # -- one pass --------------------------------------------------------------------------
    def select_batch(self, conn: psycopg.Connection[Any], result: PassResult) -> list[OutboxRow]:
        raw = conn.execute(_SELECT, (self.settings.relay_batch_size,)).fetchall()
        result.selected = len(raw)
        if not raw:
            return []
        keys = sorted({r["agg_key"] for r in raw})
        held = {r["k"] for r in conn.execute(_LOCK, (keys, RELAY_LOCK_NAMESPACE)).fetchall()}
        mine = [r for r in raw if r["agg_key"] in held]
        if mine:
            max_seq: dict[tuple[str, str], int] = {}
            for r in mine:
                max_seq[(r["aggregate_type"], r["aggregate_id"])] = r["seq"]
            blockers = conn.execute(_BLOCKERS, (
                [a[0] for a in max_seq], [a[1] for a in max_seq], list(max_seq.values()),
                [r["seq"] for r in mine],
            )).fetchall()
            first_blocker = {(b["aggregate_type"], b["aggregate_id"]): b["first_blocker"] for b in blockers}
            mine = [r for r in mine
                    if r["seq"] < first_blocker.get((r["aggregate_type"], r["aggregate_id"]), r["seq"] + 1)]
        result.held_back = len(raw) - len(mine)
        return [OutboxRow(r["seq"], r["id"], r["event_type"], r["aggregate_type"], r["aggregate_id"],
                          r["correlation_id"], r["payload"], r["attempts"], r["traceparent"]) for r in mine]

    def publish(self, rows: list[OutboxRow], result: PassResult) -> None:
        """Send and flush; sort every row into published / parked / failed on `result`."""
        try:
            producer = self.producer()
        except Exception as exc:  # broker unreachable at connect: every row backs off
            result.failed = [r.seq for r in rows]
            result.error = f"{type(exc).__name__}: {exc}"[:1000]
            return
        blocked: set[tuple[str, str]] = set()  # an earlier row of the aggregate was not sent
        failed_topics: set[str] = set()
        sent: list[tuple[OutboxRow, Any]] = []
        for row in rows:
            if row.aggregate in blocked:
                result.held_back += 1
                continue
            try:
                msg = build_message(row, self.settings.topic_prefix)
                if msg.topic in failed_topics:
                    result.failed.append(row.seq)
                    blocked.add(row.aggregate)
                    continue
                future = producer.send(msg.topic, value=msg.value, key=msg.key, headers=msg.headers)
            except Unpublishable as exc:
                result.parked.append((row.seq, str(exc)))
                blocked.add(row.aggregate)
            except self._permanent as exc:
                result.parked.append((row.seq, f"{type(exc).__name__}: {exc}"[:1000]))
                blocked.add(row.aggregate)
            except (ValueError, TypeError) as exc:  # e.g. an invalid topic name
                result.parked.append((row.seq, f"{type(exc).__name__}: {exc}"[:1000]))
                blocked.add(row.aggregate)
            except self._kafka_error as exc:  # metadata timeout: topic missing or broker gone
                result.failed.append(row.seq)
                result.error = f"{type(exc).__name__}: {exc}"[:1000]
                blocked.add(row.aggregate)
                failed_topics.add(topic_for(row.aggregate_type, self.settings.topic_prefix))
            else:
                sent.append((row, future))
        if sent:
            try:
                producer.flush(timeout=self.settings.kafka_delivery_timeout_ms / 1000 + 1)
            except self._kafka_error as exc:
                result.error = f"{type(exc).__name__}: {exc}"[:1000]
        transient = False
        for row, future in sent:
            if future.succeeded():
                result.published.append(row.seq)
                result.published_types.append(row.event_type)
                # one line per event with the writer's correlation id and trace (devstack trace, Logs
                # Insights by correlation_id): the outbox -> Kafka hop of its timeline. Keys passed
                # as they are, not through a correlation scope: this loop is the relay's hot path.
                writer = parse_traceparent(row.traceparent)
                logger.info("event published", extra={
                    "event_id": str(row.id), "event_type": row.event_type, "correlation_id": row.correlation_id,
                    **({"trace_id": writer[0], "linked_span_id": writer[1]} if writer else {})})
            elif future.is_done and isinstance(future.exception, self._permanent):
                result.parked.append((row.seq, f"{type(future.exception).__name__}: {future.exception}"[:1000]))
            else:
                transient = True
                result.failed.append(row.seq)
                if future.is_done:
                    result.error = f"{type(future.exception).__name__}: {future.exception}"[:1000]
                else:
                    result.error = result.error or "delivery not confirmed before the flush timeout"
        if transient or result.error:
            self.discard_producer()

    def mark(self, conn: psycopg.Connection[Any], result: PassResult) -> None:
        if result.published:
            conn.execute(_MARK_PUBLISHED, (result.published,))
        for seq, reason in result.parked:
            conn.execute(_PARK, (reason, reason, seq))
        if result.failed:
            s = self.settings
            conn.execute(_BACKOFF, (result.error or "publish failed", s.relay_backoff_max_ms / 1000,
                                    s.relay_backoff_base_ms / 1000, result.failed))

    def run_once(self) -> PassResult:
        result = PassResult()
        with self.database.transaction() as conn:
            rows = self.select_batch(conn, result)
            if rows:
                self.publish(rows, result)
                self.mark(conn, result)
        if result.parked:
            for seq, reason in result.parked:
                logger.error("outbox row parked", extra={"seq": seq, "reason": reason})
        if result.failed:
            logger.warning("publish failed, rows backed off",
                           extra={"rows": len(result.failed), "error": result.error})
        return result

    # -- the invocation's loop ---------------------------------------------------------------
    def run(self, remaining_ms: Callable[[], int], *, max_duration_s: float | None = None,
            sleep: Callable[[float], None] = time.sleep) -> RunStats:
        """Pass after pass until the time budget is nearly spent (or relay_max_duration_s)."""
        s = self.settings
        stats = RunStats()
        started = time.monotonic()
        limit = max_duration_s or s.relay_max_duration_s

        def time_left() -> bool:
            if limit and time.monotonic() - started >= limit:
                return False
            return remaining_ms() > s.relay_safety_margin_ms

        self.record_lag()
        while True:
            result = self.run_once()
            stats.passes += 1
            stats.published += len(result.published)
            stats.events.update(result.published_types)
            stats.parked += len(result.parked)
            stats.failed += len(result.failed)
            if result.published:
                stats.batch_sizes.append(len(result.published))
                measure("RelayBatchSize", len(result.published))
            if not time_left():
                break
            if not result.published:
                sleep(s.relay_idle_sleep_ms / 1000)
        stats.pruned = self.prune()
        self.record_lag()
        measure("RelayPublished", stats.published)
        measure("RelayParked", stats.parked)
        measure("RelayPublishFailures", stats.failed)
        for event_type, n in sorted(stats.events.items()):  # business metrics: committed domain events
            count(event_metric(event_type), n)
        return stats

    def record_lag(self) -> tuple[float, int]:
        with self.database.transaction() as conn:
            row = conn.execute(_OLDEST).fetchone()
        assert row is not None
        age = float(row["age"] or 0.0)
        measure("OutboxOldestUnpublishedAge", age)
        measure("OutboxParkedRows", int(row["parked"]))
        return age, int(row["parked"])

    def prune(self) -> int:
        """Delete (or archive) published rows older than the retention period, in bounded chunks."""
        s = self.settings
        pick = ("SELECT seq FROM lms.outbox WHERE published_at IS NOT NULL "
                "AND published_at < now() - make_interval(secs => %s) ORDER BY published_at LIMIT %s "
                "FOR UPDATE SKIP LOCKED")
        if s.outbox_retention_mode == "archive":
            sql = (f"WITH gone AS (DELETE FROM lms.outbox WHERE seq IN ({pick}) RETURNING *) "
                   "INSERT INTO lms.outbox_archive (seq, id, event_type, aggregate_type, aggregate_id, correlation_id, "
                   "occurred_at, payload, created_at, published_at, traceparent) "
                   "SELECT seq, id, event_type, aggregate_type, aggregate_id, correlation_id, occurred_at, payload, "
                   "created_at, published_at, traceparent FROM gone")
        else:
            sql = f"DELETE FROM lms.outbox WHERE seq IN ({pick})"
        with self.database.transaction() as conn:
            cur = conn.execute(sql, (s.outbox_retention_hours * 3600, s.outbox_prune_batch))
            return max(cur.rowcount, 0)
