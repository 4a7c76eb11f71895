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

`Relay.run` (the invocation's loop) overlaps passes on two connections when it has them: the
next batch is selected, and the previous one marked, while this one's messages are in flight;
an idle relay waits on `LISTEN lms_outbox` (migration 0032) between polls.

A crash between 4 and 5 rolls the transaction back: the rows are sent again on the next pass
(consumers dedupe by event id). Migration 0030's insert trigger makes seq order = commit order
per aggregate, so a row can never become visible behind a later row of its aggregate.

Parking: a row that can never be published (larger than the broker's max message size, not a
valid envelope, invalid topic name) gets `parked_at` + `park_reason`. Rows of OTHER aggregates go
on; later rows of the SAME aggregate wait behind it (step 3) until an operator republishes it
(`python -m smartcourse.ops republish`) or skips it (`ops skip`): order is never broken silently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _escape  # json.dumps's own string escaping, ensure_ascii=False
from typing import Any, Literal, Protocol

import psycopg
from psycopg.rows import tuple_row
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
    # No pass starts with less than this left; the pass under way stops sending and waiting for
    # acknowledgements at half of it, so the invocation ends before its timeout whatever the load.
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
    # kafka-python's producer also takes `partition=` and has `partitions_for(topic)`: with both,
    # the relay names each message's partition itself (`Message.key_hash`); a producer without
    # `partitions_for` is never passed a partition
    def send(self, topic: str, value: Any = None, key: Any = None, headers: Any = None, **kwargs: Any) -> Any: ...
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
    agg_key: int = 0  # hashtext(aggregate_type || '/' || aggregate_id): the relay lock's key

    @property
    def aggregate(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    #: murmur2(key) & 0x7fffffff: the partition is this modulo the topic's partition count, as the
    #: Java client's and kafka-python's default partitioner choose it for a keyed message
    key_hash: int = -1


_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a message key (`org.apache.kafka.common.utils.Utils.murmur2`; kafka-python's
    `kafka.partitioner.default.murmur2` gives the same), reading four bytes at a time: about a
    third of the time of kafka-python's byte-by-byte version, whose default partitioner took a
    quarter of each `send` in the relay (py-spy, docs/event-backbone.md)."""
    length = len(data)
    h = 0x9747B28C ^ length
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * _M) & 0xFFFFFFFF) ^ ((k * _M) & 0xFFFFFFFF)
    tail, base = length & 3, length & ~3
    if tail >= 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h = ((h ^ data[base]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


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


def int_array(values: Iterable[int]) -> str:
    """A Postgres array literal of integers, for a `%s::bigint[]` or `%s::int[]` parameter: one C-level
    join, where psycopg's list dumper adapts element by element in Python (the relay passes a batch's
    seqs in every statement)."""
    return "{" + ",".join(map(str, map(int, values))) + "}"


def build_message(row: OutboxRow, topic_prefix: str) -> Message:
    """Validate the stored envelope and shape the Kafka message. Raises Unpublishable."""
    try:
        envelope = EventEnvelope.model_validate_json(row.payload)
    except ValidationError as exc:
        raise Unpublishable(f"payload is not a valid event envelope: {exc.errors()[0]['msg']}") from None
    event_id = str(row.id)
    if str(envelope.id) != event_id or envelope.aggregate_id != row.aggregate_id \
            or envelope.aggregate_type != row.aggregate_type or envelope.type != row.event_type:
        raise Unpublishable("payload does not match the row's id / type / aggregate columns")
    headers = [
        ("id", event_id.encode()),
        ("event_type", row.event_type.encode()),
        ("aggregate_type", row.aggregate_type.encode()),
    ]
    if row.correlation_id:
        headers.append(("correlation_id", row.correlation_id.encode()))
    if row.traceparent:  # W3C Trace Context over Kafka: the consumer continues the producer's trace
        headers.append(("traceparent", row.traceparent.encode()))
    key = row.aggregate_id.encode()
    return Message(topic_for(row.aggregate_type, topic_prefix), key, row.payload.encode(), headers,
                   murmur2(key) & 0x7FFFFFFF)


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
WITH waiting AS MATERIALIZED (
    -- aggregates with a parked or backing-off row (usually none; migration 0032's outbox_waiting_idx):
    -- their later rows wait and are not selected, so they cannot fill every batch and starve the others
    SELECT aggregate_type, aggregate_id, min(seq) AS first_seq
    FROM lms.outbox
    WHERE published_at IS NULL AND (parked_at IS NOT NULL OR attempts > 0)
      AND (parked_at IS NOT NULL OR next_attempt_at > now())
    GROUP BY aggregate_type, aggregate_id)
SELECT o.seq, o.id, o.event_type, o.aggregate_type, o.aggregate_id, o.correlation_id, o.payload::text AS payload,
       o.attempts, o.traceparent, hashtext(o.aggregate_type || '/' || o.aggregate_id) AS agg_key
FROM lms.outbox o
WHERE o.published_at IS NULL AND o.parked_at IS NULL AND o.next_attempt_at <= now()
  -- aggregates of this relay's other pass, whose messages are in flight
  AND NOT (hashtext(o.aggregate_type || '/' || o.aggregate_id) = ANY(%s::int[]))
  AND NOT EXISTS (SELECT 1 FROM waiting w
                  WHERE w.aggregate_type = o.aggregate_type AND w.aggregate_id = o.aggregate_id
                    AND w.first_seq < o.seq)
ORDER BY o.seq
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""
# One round trip: the relay lock of each aggregate in the batch (namespace 7302; the batch's last
# row of each aggregate names it), then, for the aggregates it holds, the first earlier unpublished
# row outside the batch (locked by another relay, parked or backing off). The subquery runs per
# aggregate on outbox_unpublished_aggregate_idx. The batch's rows are found by their seqs, an index
# condition (`seq = ANY(...)`): written as a join of `unnest(...)` with lms.outbox, the planner
# hashed every row of the outbox (a full index-only scan) to find 500: 6.3 ms a pass at 20,000 rows,
# growing with the published rows kept, against 2.7 ms (docs/event-backbone.md).
_CLAIM = """
WITH a AS MATERIALIZED (
    SELECT o.aggregate_type AS t, o.aggregate_id AS i, o.seq AS max_seq,
           pg_try_advisory_xact_lock(%s, hashtext(o.aggregate_type || '/' || o.aggregate_id)) AS held
    FROM lms.outbox o WHERE o.seq = ANY(%s::bigint[]))
SELECT max_seq, held,
       CASE WHEN held THEN (SELECT min(o.seq) FROM lms.outbox o
                            WHERE o.aggregate_type = a.t AND o.aggregate_id = a.i AND o.published_at IS NULL
                              AND o.seq < a.max_seq AND NOT (o.seq = ANY(%s::bigint[]))) END AS first_blocker
FROM a
"""
_MARK_PUBLISHED = "UPDATE lms.outbox SET published_at = now(), last_error = NULL WHERE seq = ANY(%s::bigint[])"
_PARK = """
UPDATE lms.outbox o SET parked_at = now(), park_reason = u.reason, last_error = u.reason
FROM unnest(%s::bigint[], %s::text[]) AS u(seq, reason) WHERE o.seq = u.seq
"""
_BACKOFF = """
UPDATE lms.outbox
SET attempts = attempts + 1, last_error = %s,
    next_attempt_at = now() + make_interval(secs => least(%s::float8, %s::float8 * power(2, attempts))
                                                     * (0.8 + random() * 0.4))
WHERE seq = ANY(%s::bigint[])
"""
_OLDEST = """
SELECT extract(epoch FROM now() - min(created_at))::float8 AS age,
       (SELECT count(*) FROM lms.outbox WHERE parked_at IS NOT NULL AND published_at IS NULL) AS parked
FROM lms.outbox WHERE published_at IS NULL AND parked_at IS NULL
"""



@dataclass
class _Budget:
    """The invocation's time: passes start while more than the safety margin is left; the pass under
    way stops sending, and stops waiting for acknowledgements, at half the margin."""

    remaining_ms: Callable[[], int]
    margin_ms: int
    limit_at: float | None = None  # monotonic end of RELAY_MAX_DURATION_S / max_duration_s

    def can_start(self) -> bool:
        if self.limit_at is not None and time.monotonic() >= self.limit_at:
            return False
        return self.remaining_ms() > self.margin_ms

    def stop_at(self) -> float:
        """Monotonic time by which the pass starting now must have stopped sending and waiting."""
        return time.monotonic() + (self.remaining_ms() - self.margin_ms / 2) / 1000


@dataclass
class _OpenPass:
    """A pass whose transaction is open: its rows are locked until `Relay._finish` commits."""

    stack: contextlib.ExitStack
    conn: Any
    rows: list[OutboxRow]
    result: PassResult
    excluded: bool  # selected without the aggregates of the other pass in flight
    messages: dict[int, Message | Unpublishable] = field(default_factory=dict)  # by seq, built beside the select

    @property
    def keys(self) -> list[int]:
        return sorted({r.agg_key for r in self.rows})


class Relay:
    """`database` runs the passes; with `second_database` (a second connection), two passes overlap:
    while one pass's messages are sent and acknowledged, the next pass is selected on the other
    connection and the previous one is marked and committed (a thread for the database work)."""

    def __init__(self, settings: RelaySettings, database: Database,
                 producer_factory: Callable[[], Producer] | None = None, *,
                 second_database: Database | None = None) -> None:
        self.settings = settings
        self.database = database
        self.second_database = second_database
        self._factory = producer_factory or default_producer_factory(settings)
        self._producer: Producer | None = None
        self._permanent, self._kafka_error = _kafka_errors()
        self._listening: Any = None  # the connection that LISTENs on lms_outbox

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
    def select_batch(self, conn: psycopg.Connection[Any], result: PassResult,
                     exclude: Sequence[int] = ()) -> list[OutboxRow]:
        """Lock up to a batch of due rows, minus the aggregates `exclude` (hashtext keys) and those
        another relay holds or whose earlier rows are outside the batch. Two round trips."""
        with conn.cursor(row_factory=tuple_row) as cur:  # columns in OutboxRow's order
            rows = [OutboxRow(*r) for r in cur.execute(_SELECT, (int_array(exclude),
                                                                 self.settings.relay_batch_size)).fetchall()]
        result.selected = len(rows)
        if not rows:
            return []
        last: dict[tuple[str, str], int] = {}  # aggregate -> its last seq in the batch
        for r in rows:
            last[r.aggregate] = r.seq
        aggregate_of = {seq: agg for agg, seq in last.items()}
        claims = conn.execute(_CLAIM, (RELAY_LOCK_NAMESPACE, int_array(last.values()),
                                       int_array(r.seq for r in rows))).fetchall()
        limit: dict[tuple[str, str], float] = {}  # rows of an aggregate below this seq may go
        for c in claims:
            if c["held"]:
                first = c["first_blocker"]
                limit[aggregate_of[c["max_seq"]]] = float("inf") if first is None else first
        mine = [r for r in rows if r.seq < limit.get(r.aggregate, 0)]
        result.held_back = len(rows) - len(mine)
        return mine

    def publish(self, rows: list[OutboxRow], result: PassResult, *, stop_at: float | None = None,
                messages: dict[int, Message | Unpublishable] | None = None) -> None:
        """Send, wait for the acknowledgements (until `stop_at`, monotonic, at the latest); sort
        every row into published / parked / failed on `result`. Rows not sent before `stop_at`
        are held back: unmarked, they go in a later run. `messages`: `build_message`'s outcome by
        seq, when already built."""
        sent = self.send(rows, result, stop_at=stop_at, messages=messages)
        self.settle(sent, result, stop_at=stop_at)

    def send(self, rows: list[OutboxRow], result: PassResult, *, stop_at: float | None = None,
             messages: dict[int, Message | Unpublishable] | None = None) -> list[tuple[OutboxRow, Any]]:
        try:
            producer = self.producer()
        except Exception as exc:  # broker unreachable at connect: every row backs off
            result.failed = [r.seq for r in rows]
            result.error = f"{type(exc).__name__}: {exc}"[:1000]
            return []
        blocked: set[tuple[str, str]] = set()  # an earlier row of the aggregate was not sent
        failed_topics: set[str] = set()
        sent: list[tuple[OutboxRow, Any]] = []
        prefix = self.settings.topic_prefix
        # each topic's partitions (sorted, as the default partitioner sorts them), once per pass
        partitions_for = getattr(producer, "partitions_for", None)
        partitions: dict[str, list[int]] = {}
        for n, row in enumerate(rows):
            if stop_at is not None and n % 64 == 0 and time.monotonic() >= stop_at:
                result.held_back += len(rows) - n  # out of time: the next run sends them
                break
            if row.aggregate in blocked:
                result.held_back += 1
                continue
            try:
                built = messages.get(row.seq) if messages else None
                if isinstance(built, Unpublishable):
                    raise built
                msg = built or build_message(row, prefix)
                if msg.topic in failed_topics:
                    result.failed.append(row.seq)
                    blocked.add(row.aggregate)
                    continue
                if partitions_for is None or msg.key_hash < 0:
                    future = producer.send(msg.topic, value=msg.value, key=msg.key, headers=msg.headers)
                else:
                    parts = partitions.get(msg.topic)
                    if parts is None:
                        parts = partitions[msg.topic] = sorted(partitions_for(msg.topic) or ())
                    future = producer.send(msg.topic, value=msg.value, key=msg.key, headers=msg.headers,
                                           partition=parts[msg.key_hash % len(parts)] if parts else None)
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
                failed_topics.add(topic_for(row.aggregate_type, prefix))
            else:
                sent.append((row, future))
        return sent

    def settle(self, sent: list[tuple[OutboxRow, Any]], result: PassResult, *, stop_at: float | None = None) -> None:
        """Flush (every message the producer holds is this pass's) and check every future."""
        if sent:
            timeout = self.settings.kafka_delivery_timeout_ms / 1000 + 1
            if stop_at is not None:
                timeout = max(0.05, min(timeout, stop_at - time.monotonic()))
            try:
                self.producer().flush(timeout=timeout)
            except self._kafka_error as exc:
                result.error = f"{type(exc).__name__}: {exc}"[:1000]
        transient = False
        published: list[OutboxRow] = []
        for row, future in sent:
            if future.succeeded():
                result.published.append(row.seq)
                result.published_types.append(row.event_type)
                published.append(row)
            elif future.is_done and isinstance(future.exception, self._permanent):
                result.parked.append((row.seq, f"{type(future.exception).__name__}: {future.exception}"[:1000]))
            else:
                transient = True
                result.failed.append(row.seq)
                if future.is_done:
                    result.error = f"{type(future.exception).__name__}: {future.exception}"[:1000]
                else:
                    result.error = result.error or "delivery not confirmed before the flush timeout"
        log_published(published)
        if transient or result.error:
            self.discard_producer()

    def mark(self, conn: psycopg.Connection[Any], result: PassResult) -> None:
        """One statement per outcome: published, parked, backing off."""
        if result.published:
            conn.execute(_MARK_PUBLISHED, (int_array(result.published),))
        if result.parked:
            conn.execute(_PARK, (int_array(seq for seq, _ in result.parked), [reason for _, reason in result.parked]))
        if result.failed:
            s = self.settings
            conn.execute(_BACKOFF, (result.error or "publish failed", s.relay_backoff_max_ms / 1000,
                                    s.relay_backoff_base_ms / 1000, int_array(result.failed)))

    def run_once(self) -> PassResult:
        """One pass, start to end: select, send, wait for the acknowledgements, mark, commit."""
        result = PassResult()
        with self.database.transaction() as conn:
            rows = self.select_batch(conn, result)
            if rows:
                self.publish(rows, result)
                self.mark(conn, result)
        _log_outcome(result)
        return result

    # -- overlapping passes -------------------------------------------------------------------
    def _begin(self, database: Database, exclude: Sequence[int]) -> _OpenPass:
        stack = contextlib.ExitStack()
        conn = stack.enter_context(database.transaction())
        try:
            result = PassResult()
            rows = self.select_batch(conn, result, exclude)
        except BaseException:
            stack.__exit__(*sys.exc_info())
            raise
        # validate and shape the messages here, off the sending thread's path
        messages: dict[int, Message | Unpublishable] = {}
        prefix = self.settings.topic_prefix
        for row in rows:
            try:
                messages[row.seq] = build_message(row, prefix)
            except Unpublishable as exc:
                messages[row.seq] = exc
        return _OpenPass(stack, conn, rows, result, bool(exclude), messages)

    def _finish(self, p: _OpenPass) -> PassResult:
        with p.stack:  # commits; rolls back if marking fails (the rows are sent again later)
            if p.rows:
                self.mark(p.conn, p.result)
        return p.result

    def _idle(self, timeout_s: float, sleep: Callable[[float], None]) -> None:
        """Wait for a commit's notification (LISTEN lms_outbox, migration 0032), `timeout_s` at most."""
        try:
            conn = self.database.connection()
            if self._listening is not conn:
                conn.execute("LISTEN lms_outbox")
                self._listening = conn
            for _ in conn.notifies(timeout=timeout_s, stop_after=1):
                pass
            return
        except Exception:  # a fake database in tests, or a broken connection: poll
            self._listening = None
        sleep(timeout_s)

    def drain(self, remaining_ms: Callable[[], int] | None = None) -> RunStats:
        """Passes until one finds nothing to send (benchmarks, tools): no metrics, no pruning."""
        stats = RunStats()
        budget = _Budget(remaining_ms or (lambda: 3_600_000), self.settings.relay_safety_margin_ms)
        self._pump(budget, stats, time.sleep, until_idle=True, metrics=False)
        return stats

    def _pump(self, budget: _Budget, stats: RunStats, sleep: Callable[[float], None], *,
              until_idle: bool = False, metrics: bool = True) -> None:
        """Passes until the budget is spent (or, with `until_idle`, until a pass finds nothing).

        With a second database the passes overlap: pass k+1 is selected on the other connection
        (without pass k's aggregates) while pass k's messages are sent and acknowledged, and pass
        k is marked and committed while pass k+1's go out. Each connection has a thread of its own
        for its statements, in order (pass k-1's commit before pass k+1's select on the same
        connection); Kafka is used by the calling thread only."""
        databases = (self.database, self.second_database or self.database)
        overlap = self.second_database is not None
        idle_s = self.settings.relay_idle_sleep_ms / 1000
        turn = 0
        finishing: list[Future[PassResult]] = []
        begun: list[tuple[int, Future[_OpenPass]]] = []  # open passes not yet handed to _finish

        def collect(wait: bool) -> None:
            for f in [f for f in finishing if wait or f.done()]:
                finishing.remove(f)
                _account(stats, f.result(), metrics)

        switch = sys.getswitchinterval()
        # The database threads wait for the GIL after each round trip while this thread sends:
        # a shorter switch interval (default 5 ms) hands it over sooner.
        sys.setswitchinterval(min(switch, 0.001))
        executors = [ThreadPoolExecutor(1, thread_name_prefix=f"relay-db{i}") for i in range(2 if overlap else 1)]
        try:
            if not budget.can_start():
                return
            stop_at = budget.stop_at()
            begun.append((turn, executors[turn].submit(self._begin, databases[turn], ())))
            while begun:
                cur_turn, cur_future = begun[0]
                cur = cur_future.result()
                stats.passes += 1
                if cur.rows:
                    if overlap and budget.can_start():  # select the next batch while this one goes out
                        turn ^= 1
                        next_stop = budget.stop_at()
                        begun.append((turn, executors[turn].submit(self._begin, databases[turn], cur.keys)))
                    self.publish(cur.rows, cur.result, stop_at=stop_at, messages=cur.messages)
                finishing.append(executors[cur_turn].submit(self._finish, cur))
                begun.pop(0)
                collect(wait=False)
                if begun:
                    stop_at = next_stop
                    continue
                collect(wait=True)
                if not budget.can_start():
                    break
                if not cur.rows and not cur.excluded:  # nothing to do: wait for a commit
                    if until_idle:
                        break
                    executors[0].submit(self._idle, idle_s, sleep).result()
                    if not budget.can_start():
                        break
                stop_at = budget.stop_at()
                begun.append((turn, executors[turn].submit(self._begin, databases[turn], ())))
        finally:
            for i, opened in begun:  # an error left passes open: roll them back (their rows go again later)
                with contextlib.suppress(Exception):
                    executors[i].submit(self._rollback, opened.result()).result()
            for finished in finishing:
                finished.exception()  # wait for them; an error surfaces through collect
            for executor in executors:
                executor.shutdown()
            sys.setswitchinterval(switch)
            collect(wait=True)

    @staticmethod
    def _rollback(p: _OpenPass) -> None:
        p.stack.__exit__(RuntimeError, RuntimeError("relay pass abandoned"), None)

    # -- the invocation's loop ---------------------------------------------------------------
    def run(self, remaining_ms: Callable[[], int], *, max_duration_s: float | None = None,
            sleep: Callable[[float], None] = time.sleep) -> RunStats:
        """Passes until the time budget is nearly spent (or relay_max_duration_s): none starts with
        less than RELAY_SAFETY_MARGIN_MS left, and the last one stops sending and waiting at half of it."""
        s = self.settings
        stats = RunStats()
        limit = max_duration_s or s.relay_max_duration_s
        budget = _Budget(remaining_ms, s.relay_safety_margin_ms, time.monotonic() + limit if limit else None)
        self.record_lag()
        self._pump(budget, stats, sleep)
        if remaining_ms() > s.relay_safety_margin_ms / 2:
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


def _account(stats: RunStats, result: PassResult, metrics: bool) -> None:
    """Count a committed pass."""
    stats.published += len(result.published)
    stats.events.update(result.published_types)
    stats.parked += len(result.parked)
    stats.failed += len(result.failed)
    if result.published:
        stats.batch_sizes.append(len(result.published))
        if metrics:
            measure("RelayBatchSize", len(result.published))
    _log_outcome(result)


def _log_outcome(result: PassResult) -> None:
    for seq, reason in result.parked:
        logger.error("outbox row parked", extra={"seq": seq, "reason": reason})
    if result.failed:
        logger.warning("publish failed, rows backed off", extra={"rows": len(result.failed), "error": result.error})


def _published_keys(row: OutboxRow) -> dict[str, Any]:
    keys: dict[str, Any] = {"event_id": str(row.id), "event_type": row.event_type}
    if row.correlation_id:
        keys["correlation_id"] = row.correlation_id
    writer = parse_traceparent(row.traceparent)
    if writer:
        keys["trace_id"], keys["linked_span_id"] = writer[0], writer[1]
    return keys


def log_published(rows: list[OutboxRow]) -> None:
    """One `event published` line per row, in the row's correlation id and trace (devstack trace,
    Logs Insights by correlation_id): the outbox -> Kafka hop of its timeline.

    The relay's hot path: Powertools formats the first line of the batch (about 40 us a line). The
    others have that line's keys with the row's own (`_published_keys`), so each set of row keys
    gets a template: the same formatter's serialization of the line with a placeholder for each row
    value, split at the placeholders; a row's line is the template joined with its JSON-escaped
    values (about 1 us, where serializing the whole line again took 8). A template is used only if
    it gives, for the first row of its shape, exactly what the formatter writes for it."""
    if not rows or logger.log_level > logging.INFO:
        return
    handler, formatter = logger.registered_handler, logger.registered_formatter
    stream = getattr(handler, "stream", None)
    serialize = getattr(formatter, "serialize", None)
    if stream is None or serialize is None or handler.level > logging.INFO or len(rows) == 1:
        for row in rows:
            logger.info("event published", extra=_published_keys(row), stacklevel=2)
        return
    caller = sys._getframe(1)
    record = logging.LogRecord(logger.name, logging.INFO, caller.f_code.co_filename, caller.f_lineno,
                               "event published", None, None, func=caller.f_code.co_name)
    first = _published_keys(rows[0])
    record.__dict__.update(first)
    line = formatter.format(record)
    base = {k: v for k, v in json.loads(line).items() if k not in first}
    templates: dict[tuple[str, ...], _LineTemplate | None] = {}
    lines = [line]
    for row in rows[1:]:
        keys = _published_keys(row)
        shape = tuple(keys)
        if shape not in templates:
            templates[shape] = _LineTemplate.build(serialize, base, keys)
        template = templates[shape]
        lines.append(template.render(keys) if template is not None else serialize({**base, **keys}))
    handler.acquire()
    try:
        stream.write("\n".join(lines) + "\n")
        handler.flush()
    finally:
        handler.release()


@dataclass(frozen=True)
class _LineTemplate:
    """A log line with holes for string values: `pieces` alternate literal text and key names."""

    pieces: tuple[str, ...]

    @classmethod
    def build(cls, serialize: Callable[[dict[str, Any]], str], base: dict[str, Any],
              sample: dict[str, Any]) -> _LineTemplate | None:
        """The template of `{**base, **keys}` for keys shaped like `sample` (string values), or None
        when the serializer's output cannot be cut at the values (checked on `sample`)."""
        if not all(isinstance(v, str) for v in sample.values()):
            return None
        holes = {k: f"\x00{i}\x00" for i, k in enumerate(sample)}
        encoded = {_escape(h): k for k, h in holes.items()}
        parts = re.split("(" + "|".join(map(re.escape, encoded)) + ")", serialize({**base, **holes}))
        pieces = tuple(encoded.get(p, p) if i % 2 else p for i, p in enumerate(parts))
        template = cls(pieces)
        if len(parts) != 2 * len(sample) + 1 or template.render(sample) != serialize({**base, **sample}):
            return None
        return template

    def render(self, values: dict[str, str]) -> str:
        p = self.pieces
        return "".join([p[i] if i % 2 == 0 else _escape(values[p[i]]) for i in range(len(p))])
