"""The operations CLI: list parked rows, republish them, skip them, replay published events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from backbone_helpers import outbox_counts, read_topic, relay_settings, topic, write_events

from smartcourse import ops
from smartcourse.db import Database
from smartcourse.relay import Relay

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str, env: dict[str, str]) -> object:
    proc = subprocess.run([sys.executable, "-m", "smartcourse.ops", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_parked_rows_are_listed_republished_in_order_and_published_events_replayed(
        backbone_db: str, topic_prefix: str, kafka_bootstrap: str) -> None:
    env = {"DATABASE_URL": backbone_db, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC_PREFIX": topic_prefix,
           "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    # Given an aggregate whose first event is too large for a (small) broker limit: parked, 2 waiting behind
    events = write_events(backbone_db, 3, aggregates=1, pad=5_000)
    small = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, kafka_max_message_bytes=4_096),
                  Database(backbone_db))
    try:
        small.run_once()
    finally:
        small.close()
    assert outbox_counts(backbone_db) == {"published": 0, "pending": 2, "parked": 1}
    # When the operator lists parked rows
    parked = cli("parked", env=env)
    assert isinstance(parked, list) and len(parked) == 1
    assert parked[0]["id"] == str(events[0].id) and parked[0]["waiting_behind"] == 2
    assert "MessageSizeTooLarge" in parked[0]["park_reason"]
    # And republishes it (after the limit was raised): the relay sends all three, in order
    assert cli("republish", "--all", env=env) == {"republished": 1}
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap), Database(backbone_db))
    try:
        assert len(relay.run_once().published) == 3
    finally:
        relay.close()
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=3)
    assert [json.loads(r.value)["data"]["n"] for r in recs] == [1, 2, 3]
    # And replays the aggregate's published events: sent again, marked as a replay
    agg = f"course:{events[0].aggregate_id}"
    assert cli("replay", "--aggregate", agg, "--dry-run", env=env) == {"would_replay": 3}
    assert cli("replay", "--aggregate", agg, env=env) == {"replayed": 3}
    recs = read_topic(kafka_bootstrap, [topic(topic_prefix)], expected=6)
    assert [dict(r.headers).get("replay") for r in recs] == [None] * 3 + [b"1"] * 3
    assert [json.loads(r.value)["id"] for r in recs[3:]] == [str(e.id) for e in events]
    assert ops.replay(Database(backbone_db), relay_settings(backbone_db, topic_prefix, kafka_bootstrap),
                      event_type="smartcourse.course.tested.v1", dry_run=True) == 3
    assert cli("status", env=env)["parked"] == 0  # type: ignore[index]


def test_skip_gives_up_on_a_parked_row_and_unblocks_its_aggregate(backbone_db: str, topic_prefix: str,
                                                                  kafka_bootstrap: str) -> None:
    events = write_events(backbone_db, 2, aggregates=1, pad=5_000)
    relay = Relay(relay_settings(backbone_db, topic_prefix, kafka_bootstrap, kafka_max_message_bytes=4_096),
                  Database(backbone_db))
    try:
        relay.run_once()
        assert ops.skip(Database(backbone_db), [str(events[0].id)], "corrupt, see ticket 42") == 1
        # the second is too large as well: parked in its turn, never overtaking the first
        relay.run_once()
    finally:
        relay.close()
    rows = ops.list_parked(Database(backbone_db))
    assert [r["id"] for r in rows] == [str(events[1].id)]
