"""The outbox relay against real Postgres and the real broker (the shared devstack Kafka)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from backbone_helpers import (
    effects,
    effects_consumer,
    feed,
    outbox_counts,
    read_topic,
    relay_settings,
    topic,
    wait_until,
    write_events,
)

from smartcourse.db import Database
from smartcourse.relay import Relay

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def until_drained(database_url: str) -> Any:
    """A `remaining_ms` for Relay.run that ends the loop once nothing is pending."""
    return lambda: 0 if outbox_counts(database_url)["pending"] == 0 else 60_000


def drain(relay: Relay, max_passes: int = 1000) -> int:
    published = 0
    for _ in range(max_passes):
        r = relay.run_once()
        published += len(r.published)
        if r.selected == 0:
            return published
    raise AssertionError("relay did not drain the outbox")


def test_published_message_has_key_headers_and_the_envelope(backbone_db: str, topic_prefix: str,
                                                            kafka_bootstrap: str) -> None:
    # Given three committed events of one aggregate
    events = write_events(backbone_db, 3, aggregates=1)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    # When the relay runs one pass
    try:
        result = relay.run_once()
    finally:
        relay.close()
    # Then all three are published and marked
    assert len(result.published) == 3
    assert outbox_counts(backbone_db) == {"published": 3, "pending": 0, "parked": 0}
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=3)
    assert [json.loads(r.value)["id"] for r in recs] == [str(e.id) for e in events]
    first = recs[0]
    assert first.key == events[0].aggregate_id.encode()
    headers = dict(first.headers)
    assert headers["id"] == str(events[0].id).encode()
    assert headers["event_type"] == b"smartcourse.course.tested.v1"
    assert headers["correlation_id"] == b"corr-0"


def test_ten_thousand_events_reach_the_consumer_and_act_exactly_once(backbone_db: str, topic_prefix: str,
                                                                     kafka_bootstrap: str) -> None:
    # Given 10,000 committed events over 500 aggregates
    events = write_events(backbone_db, 10_000, aggregates=500)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    # When the relay runs its loop until the outbox is empty
    started = time.monotonic()
    try:
        stats = relay.run(until_drained(backbone_db), max_duration_s=120)
    finally:
        relay.close()
    elapsed = time.monotonic() - started
    assert stats.published == 10_000
    print(f"relay published 10,000 events in {elapsed:.1f}s over {stats.passes} passes")
    assert outbox_counts(backbone_db) == {"published": 10_000, "pending": 0, "parked": 0}
    # And a consumer (through the framework) processes everything on the topic
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=10_000, timeout=120)
    consumer = effects_consumer(backbone_db)
    results = feed(consumer, recs)
    # Then it saw every event, and each effect happened exactly once
    seen = effects(backbone_db)
    assert set(seen) == {str(e.id) for e in events}
    assert {r["times"] for r in seen.values()} == {1}
    assert sum(r.processed for r in results) == len(recs) - sum(r.duplicates for r in results)
    assert not any(r.failures for r in results)
    # And a second delivery (of the first 2,000 records) has no effect
    again = feed(consumer, recs[:2000])
    assert sum(r.duplicates for r in again) == 2000
    assert {r["times"] for r in effects(backbone_db).values()} == {1}
