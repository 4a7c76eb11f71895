"""Helpers for the event backbone tests: write outbox events, read topics, run the consumer framework."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg.rows import dict_row

from devstack.triggers import msk_event
from smartcourse.consumer import Consumer
from smartcourse.db import Database
from smartcourse.events import EventEnvelope, new_event, topic_for
from smartcourse.outbox import write_event
from smartcourse.relay import RelaySettings

EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS public.bb_effects (
    event_id uuid PRIMARY KEY,
    aggregate_id text NOT NULL,
    n integer NOT NULL,
    times integer NOT NULL DEFAULT 1
)
"""


def relay_settings(database_url: str, prefix: str, bootstrap: str, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "database_url": database_url, "kafka_bootstrap_servers": bootstrap, "topic_prefix": prefix,
        "kafka_security_protocol": "PLAINTEXT", "relay_safety_margin_ms": 0, "relay_idle_sleep_ms": 50,
        **overrides,
    }
    return RelaySettings(**values)


def write_events(database_url: str, count: int, *, aggregates: int, per_tx: int = 200,
                 aggregate_type: str = "course", pad: int = 0, shuffle: bool = False) -> list[EventEnvelope]:
    """`count` events spread round-robin (or at random) over `aggregates` aggregates; data.n counts
    per aggregate."""
    rng = random.Random(count)
    agg_ids = [str(uuid.uuid4()) for _ in range(aggregates)]
    counters = dict.fromkeys(agg_ids, 0)
    events = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(0, count, per_tx):
            with conn.transaction():
                for i in range(start, min(count, start + per_tx)):
                    agg = rng.choice(agg_ids) if shuffle else agg_ids[i % aggregates]
                    counters[agg] += 1
                    ev = new_event(f"{aggregate_type}.tested", agg, {"n": counters[agg], "pad": "x" * pad},
                                   correlation_id=f"corr-{i}")
                    write_event(conn, ev)
                    events.append(ev)
    return events


def outbox_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NOT NULL) AS published, "
            "count(*) FILTER (WHERE published_at IS NULL AND parked_at IS NULL) AS pending, "
            "count(*) FILTER (WHERE parked_at IS NOT NULL AND published_at IS NULL) AS parked FROM lms.outbox"
        ).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def read_topic(bootstrap: str, topics: Iterable[str], *, expected: int, timeout: float = 60) -> list[Any]:
    """Every record of `topics` from the beginning (no consumer group), until `expected` are read."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000, fetch_max_wait_ms=100)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200, max_records=5000).values():
                out.extend(recs)
        # Anything beyond `expected` that is already there (duplicates) counts too.
        for recs in consumer.poll(timeout_ms=300, max_records=50000).values():
            out.extend(recs)
        return out
    finally:
        consumer.close()


def effects_consumer(database_url: str, name: str = "bb-test",
                     fail: Callable[[EventEnvelope], bool] | None = None, **kwargs: Any) -> Consumer:
    """A consumer (through the framework) whose effect is a counter per event in bb_effects."""
    db = Database(database_url)
    with db.transaction() as conn:
        conn.execute(EFFECTS_DDL)

    def effect(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        if fail is not None and fail(env):
            raise RuntimeError(f"refusing event {env.id}")
        conn.execute(
            "INSERT INTO public.bb_effects (event_id, aggregate_id, n) VALUES (%s, %s, %s) "
            "ON CONFLICT (event_id) DO UPDATE SET times = bb_effects.times + 1",
            (env.id, env.aggregate_id, env.data["n"]))

    return Consumer(name, lambda: db, {"course.tested": effect, "enrollment.tested": effect}, schema="lms",
                    **kwargs)


def feed(consumer: Consumer, records: list[Any], bootstrap: str = "127.0.0.1:9092", batch: int = 100) -> list[Any]:
    """Deliver records to the framework in MSK-shaped batches, as the event source mapping does."""
    results = []
    for i in range(0, len(records), batch):
        results.append(consumer.run(msk_event(records[i:i + batch], bootstrap, "arn:local")))
    return results


def effects(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT event_id::text AS id, aggregate_id, n, times FROM public.bb_effects").fetchall()
    return {r["id"]: r for r in rows}


def topic(prefix: str, aggregate_type: str = "course") -> str:
    return topic_for(aggregate_type, prefix)
