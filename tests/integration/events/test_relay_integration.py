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
        if not r.published:
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


def test_a_run_stops_with_its_margin_before_the_timeout_and_the_next_run_sends_the_rest_once(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    # Given a relay as OutboxRelayFunction builds it (two connections), its producer connected
    settings = relay_settings(backbone_db, topic_prefix, kafka_bootstrap, relay_safety_margin_ms=1_200,
                              relay_batch_size=200)
    relay = Relay(settings, Database(backbone_db), second_database=Database(backbone_db))
    relay.run_once()
    # And 6,000 committed events
    events = write_events(backbone_db, 6_000, aggregates=300)
    # When it runs in an invocation 1.5 s from its timeout (a fake Lambda clock), margin 1.2 s
    timeout_at = time.monotonic() + 1.5

    def remaining_ms() -> int:
        return int((timeout_at - time.monotonic()) * 1000)

    try:
        stats = relay.run(remaining_ms)
        left_ms = remaining_ms()
    finally:
        relay.close()
    # Then it returned before the timeout, having published part of the outbox and left the rest
    print(f"published {stats.published} in {stats.passes} passes, returned {left_ms} ms before the timeout")
    assert left_ms > 0
    assert 0 < stats.published < 6_000
    assert outbox_counts(backbone_db) == {"published": stats.published, "pending": 6_000 - stats.published,
                                          "parked": 0}
    # And the next run sends the rest
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db),
                  second_database=Database(backbone_db))
    try:
        assert relay.run(until_drained(backbone_db), max_duration_s=120).published == 6_000 - stats.published
    finally:
        relay.close()
    # Then nothing is lost, and every effect happens once
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=6_000, timeout=120)
    assert {json.loads(r.value)["id"] for r in recs} == {str(e.id) for e in events}
    feed(effects_consumer(backbone_db), recs)
    seen = effects(backbone_db)
    assert set(seen) == {str(e.id) for e in events}
    assert {r["times"] for r in seen.values()} == {1}


def test_a_pass_wakes_on_a_commit_without_waiting_for_its_poll(backbone_db: str, topic_prefix: str,
                                                              kafka_bootstrap: str) -> None:
    # Given a relay that polls only every 5 s (LISTEN lms_outbox, migration 0032, wakes it)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, relay_idle_sleep_ms=5_000),
                  Database(backbone_db), second_database=Database(backbone_db))
    relay.run_once()  # connected
    done = threading.Event()
    stats: list[Any] = []
    worker = threading.Thread(target=lambda: stats.append(relay.run(lambda: 0 if done.is_set() else 60_000)))
    try:
        worker.start()
        time.sleep(1.0)  # the relay is idle, listening
        # When an event commits
        write_events(backbone_db, 1, aggregates=1)
        started = time.monotonic()
        while outbox_counts(backbone_db)["pending"] and time.monotonic() - started < 4:
            time.sleep(0.02)
        waited = time.monotonic() - started
    finally:
        done.set()
        worker.join(30)
        relay.close()
    # Then it is published before the next poll was due
    assert outbox_counts(backbone_db)["pending"] == 0, f"not published after {waited:.1f} s"
    assert stats and stats[0].published == 1


KILL_AFTER_PUBLISH = """
import os, signal, sys
from smartcourse.db import Database
from smartcourse.relay import Relay, RelaySettings
url, prefix, bootstrap = sys.argv[1:4]
relay = Relay(RelaySettings(database_url=url, topic_prefix=prefix, kafka_bootstrap_servers=bootstrap,
                            kafka_security_protocol="PLAINTEXT"), Database(url))
def die(conn, result):  # the process dies after the broker acked, before the rows are marked
    print("published", len(result.published), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
relay.mark = die
relay.run_once()
"""


def test_relay_killed_between_publish_and_mark_duplicates_reach_the_consumer_but_act_once(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    # Given 200 committed events
    events = write_events(backbone_db, 200, aggregates=20)
    # When a relay process is SIGKILLed after the broker acknowledged, before it marked the rows
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_PUBLISH, backbone_db, topic_prefix, kafka_bootstrap],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert "published 200" in proc.stdout
    # Then the rows are still unpublished (its transaction died with it)
    assert outbox_counts(backbone_db) == {"published": 0, "pending": 200, "parked": 0}
    # And the next relay publishes them again
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    try:
        assert drain(relay) == 200
    finally:
        relay.close()
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=400)
    assert Counter(Counter(json.loads(r.value)["id"] for r in recs).values()) == {2: 200}
    # And the consumer sees each duplicate, but the effect happens once per event
    results = feed(effects_consumer(backbone_db), recs)
    assert sum(r.processed for r in results) == 200
    assert sum(r.duplicates for r in results) == 200
    seen = effects(backbone_db)
    assert set(seen) == {str(e.id) for e in events}
    assert {r["times"] for r in seen.values()} == {1}


@pytest.mark.parametrize("overlapping", [False, True], ids=["one-pass-at-a-time", "overlapping-passes"])
def test_two_relays_in_parallel_keep_per_aggregate_order(backbone_db: str, topic_prefix: str,
                                                        kafka_bootstrap: str, overlapping: bool) -> None:
    # Given 3,000 events of 100 aggregates in random order (consecutive batches share aggregates)
    events = write_events(backbone_db, 3_000, aggregates=100, shuffle=True)
    expected = Counter(e.aggregate_id for e in events)
    # (overlapping: each relay as OutboxRelayFunction builds it, two connections, two passes at once)
    relays = [Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, relay_batch_size=40),
                    Database(backbone_db), second_database=Database(backbone_db) if overlapping else None)
              for _ in range(2)]
    published = [0, 0]
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(2000):
            if overlapping:
                n = relays[i].drain().published
            else:
                r = relays[i].run_once()
                n = len(r.published)
            published[i] += n
            if n == 0 and outbox_counts(backbone_db)["pending"] == 0:
                return

    # When two relays drain the outbox at the same time
    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    finally:
        for r in relays:
            r.close()
    assert sum(published) == 3_000
    assert min(published) > 0, f"both relays must have published: {published}"
    # Then the consumer receives each aggregate's events in order 1, 2, 3, ... with nothing missing
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=3_000)
    per_aggregate: dict[str, list[int]] = defaultdict(list)
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        env = json.loads(r.value)
        per_aggregate[env["aggregate_id"]].append(env["data"]["n"])
    assert len(per_aggregate) == 100
    for agg, ns in per_aggregate.items():
        assert ns == list(range(1, expected[agg] + 1)), f"aggregate {agg} arrived as {ns}"


def test_a_later_row_waits_while_an_earlier_row_of_its_aggregate_is_held_by_another_relay(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    # Given two events of aggregate A and one of aggregate B
    a1, _b1, _a2 = write_events(backbone_db, 3, aggregates=2)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    try:
        with psycopg.connect(backbone_db) as other:
            # And another relay's transaction holds A's first row (locked, not yet published)
            other.execute("SELECT seq FROM lms.outbox WHERE id = %s FOR UPDATE", (a1.id,))
            # When this relay runs a pass
            result = relay.run_once()
            # Then it publishes B's event but holds A's second event back: it must not overtake the first
            assert len(result.published) == 1
            assert result.held_back == 1
            other.rollback()
        # And once the other transaction is gone, A's events go in order
        assert drain(relay) == 2
    finally:
        relay.close()
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=3)
    a_ns = [json.loads(r.value)["data"]["n"] for r in recs if r.key == a1.aggregate_id.encode()]
    assert a_ns == [1, 2]


def test_a_later_row_waits_while_another_relay_holds_its_aggregate_lock(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    (a1,) = write_events(backbone_db, 1, aggregates=1)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    try:
        with psycopg.connect(backbone_db) as other:
            other.execute("SELECT pg_advisory_xact_lock(7302, hashtext(%s))", (f"course/{a1.aggregate_id}",))
            result = relay.run_once()
            assert result.published == [] and result.held_back == 1
            other.rollback()
        assert drain(relay) == 1
    finally:
        relay.close()


def test_an_oversized_row_is_parked_others_go_on_and_its_aggregate_waits_behind_it(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    # Given aggregate A: a normal event, then one larger than the broker's max message size, then another
    big = write_events(backbone_db, 1, aggregates=1, pad=20_000)[0]
    with psycopg.connect(backbone_db) as conn:
        from smartcourse.events import new_event
        from smartcourse.outbox import write_event

        after = new_event("course.tested", big.aggregate_id, {"n": 2})
        write_event(conn, after)
        other = new_event("course.tested", "another-aggregate", {"n": 1})
        write_event(conn, other)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, kafka_max_message_bytes=10_000),
                  Database(backbone_db))
    try:
        # When the relay drains the outbox
        drain(relay)
    finally:
        relay.close()
    # (a pass no longer even selects the waiting row, so it cannot crowd out other aggregates)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    try:
        assert relay.run_once().selected == 0
    finally:
        relay.close()
    # Then the big row is parked with its reason, the other aggregate's event is published,
    # and A's later event waits (unpublished, not parked) behind the parked one
    with psycopg.connect(backbone_db) as conn:
        rows = {str(r[0]): r[1:] for r in conn.execute(
            "SELECT id, published_at IS NOT NULL, parked_at IS NOT NULL, park_reason FROM lms.outbox")}
    assert rows[str(big.id)][:2] == (False, True)
    assert "MessageSizeTooLarge" in rows[str(big.id)][2]
    assert rows[str(other.id)][:2] == (True, False)
    assert rows[str(after.id)][:2] == (False, False)


def test_broker_unreachable_rows_stay_unpublished_with_attempts_error_and_backoff(backbone_db: str) -> None:
    # Given a relay pointed at a port where no broker listens
    write_events(backbone_db, 5, aggregates=2)
    relay = Relay(relay_settings(backbone_db, "smartcourse.nowhere", "127.0.0.1:1", kafka_max_block_ms=500),
                  Database(backbone_db))
    try:
        result = relay.run_once()
    finally:
        relay.discard_producer()
    # Then nothing is published; the rows record the attempt, the error, and a later next attempt
    assert result.published == [] and len(result.failed) == 5
    with psycopg.connect(backbone_db) as conn:
        rows = conn.execute("SELECT attempts, last_error, next_attempt_at > now() FROM lms.outbox").fetchall()
    assert {r[0] for r in rows} == {1}
    assert all(r[1] for r in rows)
    assert {r[2] for r in rows} == {True}
    assert outbox_counts(backbone_db)["pending"] == 5


@pytest.mark.parametrize("mode", ["delete", "archive"])
def test_published_rows_past_retention_are_pruned(backbone_db: str, topic_prefix: str, kafka_bootstrap: str,
                                                  mode: str) -> None:
    old = write_events(backbone_db, 3, aggregates=1)
    write_events(backbone_db, 2, aggregates=1)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, outbox_retention_mode=mode,
                                 outbox_retention_hours=1), Database(backbone_db))
    try:
        drain(relay)
        with psycopg.connect(backbone_db) as conn:
            conn.execute("UPDATE lms.outbox SET published_at = now() - interval '2 hours' WHERE id = ANY(%s)",
                         ([e.id for e in old],))
        assert relay.prune() == 3
    finally:
        relay.close()
    with psycopg.connect(backbone_db) as conn:
        assert conn.execute("SELECT count(*) FROM lms.outbox").fetchone() == (2,)
        archived = conn.execute("SELECT count(*) FROM lms.outbox_archive").fetchone()
    assert archived == ((3,) if mode == "archive" else (0,))


def test_the_claim_finds_its_batch_by_seq_however_many_rows_the_outbox_keeps(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    """Published rows stay for the retention period: the claim must find its batch's rows by seq,
    not hash the whole outbox to join them (it did, 6.3 ms a pass at 20,000 rows)."""
    from psycopg.rows import dict_row

    from smartcourse import relay as r

    # Given an outbox that keeps 5,000 published rows and 500 pending ones
    write_events(backbone_db, 5_500, aggregates=1_000)
    with psycopg.connect(backbone_db, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("UPDATE lms.outbox SET published_at = now() WHERE seq IN "
                     "(SELECT seq FROM lms.outbox ORDER BY seq LIMIT 5000)")
        conn.execute("VACUUM ANALYZE lms.outbox")
        pending = [row["seq"] for row in conn.execute(
            "SELECT seq FROM lms.outbox WHERE published_at IS NULL ORDER BY seq").fetchall()]
        # When the claim's plan is made for a batch of 500
        plan = "\n".join(row["QUERY PLAN"] for row in conn.execute(
            "EXPLAIN " + r._CLAIM, (r.RELAY_LOCK_NAMESPACE, r.int_array(pending), r.int_array(pending))).fetchall())
    # Then the batch's seqs are an index condition (which index is the planner's choice), and no
    # join or scan reads the outbox's other rows
    assert "Index Cond: (seq = ANY" in plan, plan
    assert "Hash Join" not in plan and "Seq Scan" not in plan, plan
