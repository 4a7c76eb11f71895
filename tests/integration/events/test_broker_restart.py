"""The broker goes away in the middle of a run and comes back: nothing is lost, publishing resumes.
Uses a PRIVATE broker (its own ports and data directory), never the shared one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from backbone_helpers import outbox_counts, read_topic, relay_settings, topic, wait_until, write_events

from devstack.kafka import KafkaBroker
from devstack.provision import ensure_topics, topic_specs
from smartcourse.db import Database
from smartcourse.relay import Relay
from tests.conftest import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    port, controller_port = free_ports(2)
    broker = KafkaBroker(tmp_path / "kafka", port=port, controller_port=controller_port,
                         cache_dir=ROOT / ".cache" / "kafka")
    broker.start(timeout=90)
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_stopped_and_started_again_nothing_lost_and_publishing_resumes(
        backbone_db: str, private_broker: KafkaBroker) -> None:
    prefix = "smartcourse.restart"
    ensure_topics(private_broker.bootstrap_servers, topic_specs(prefix))
    relay = Relay(relay_settings(backbone_db, prefix, private_broker.bootstrap_servers,
                                 relay_backoff_base_ms=200, relay_backoff_max_ms=1_000,
                                 kafka_max_block_ms=1_000, kafka_request_timeout_ms=1_000,
                                 kafka_delivery_timeout_ms=2_000), Database(backbone_db))
    stop = threading.Event()
    failures_seen: list[int] = []

    def run_relay() -> None:  # one long relay invocation, never restarted by the test
        relay.run(lambda: 0 if stop.is_set() else 60_000, max_duration_s=240)

    written: list[str] = []
    thread = threading.Thread(target=run_relay)
    thread.start()
    try:
        # Given a relay publishing a stream of events
        written += [str(e.id) for e in write_events(backbone_db, 300, aggregates=30)]
        assert wait_until(lambda: outbox_counts(backbone_db)["published"] == 300, 60)
        # When the broker stops while events keep being committed
        private_broker.stop()
        written += [str(e.id) for e in write_events(backbone_db, 300, aggregates=30)]
        time.sleep(4)  # the relay tries, fails, backs off
        counts = outbox_counts(backbone_db)
        assert counts["published"] == 300 and counts["pending"] == 300
        failures_seen.append(_attempted(backbone_db))
        # And the broker comes back (same data directory)
        private_broker.start(timeout=90)
        written += [str(e.id) for e in write_events(backbone_db, 100, aggregates=30)]
        # Then the same relay run publishes everything by itself
        assert wait_until(lambda: outbox_counts(backbone_db)["published"] == 700, 90), outbox_counts(backbone_db)
    finally:
        stop.set()
        thread.join(60)
        relay.close()
    assert failures_seen[0] > 0, "the outage must have been recorded as failed attempts"
    recs = read_topic(private_broker.bootstrap_servers, [topic(prefix)], expected=700, timeout=60)
    assert {json.loads(r.value)["id"] for r in recs} == set(written)


def _attempted(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM lms.outbox WHERE attempts > 0 AND last_error IS NOT NULL").fetchone()
    return int(row[0]) if row else 0
