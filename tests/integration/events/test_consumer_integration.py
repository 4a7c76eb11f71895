"""The consumer framework on real Postgres: concurrent duplicates, rollback, the failure ledger."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from backbone_helpers import EFFECTS_DDL, effects

from devstack.triggers import msk_event
from smartcourse.consumer import Consumer, DeadLetter
from smartcourse.db import Database
from smartcourse.events import EventEnvelope, new_event

pytestmark = pytest.mark.integration


class Rec:
    """A kafka-python ConsumerRecord look-alike, for devstack.triggers.msk_event."""

    def __init__(self, value: bytes, offset: int, partition: int = 0, topic: str = "t.course") -> None:
        self.topic, self.partition, self.offset, self.value = topic, partition, offset, value
        self.key, self.timestamp, self.timestamp_type, self.headers = b"k", 0, 0, []


def slow_effect(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
    conn.execute("INSERT INTO public.bb_effects (event_id, aggregate_id, n) VALUES (%s, %s, %s) "
                 "ON CONFLICT (event_id) DO UPDATE SET times = bb_effects.times + 1",
                 (env.id, env.aggregate_id, env.data["n"]))
    time.sleep(0.5)  # both deliveries are inside their transactions at the same time


def test_two_concurrent_deliveries_of_one_event_act_once(backbone_db: str) -> None:
    with psycopg.connect(backbone_db, autocommit=True) as conn:
        conn.execute(EFFECTS_DDL)
    env = new_event("course.tested", "a", {"n": 1})
    event = msk_event([Rec(env.model_dump_json().encode(), 0)], "b", "arn")
    outcomes: list[Any] = []

    def deliver() -> None:  # two pollers, two Lambda containers, two connections
        db = Database(backbone_db)
        outcomes.append(Consumer("conc", lambda: db, {"course.tested": slow_effect}, schema="lms").run(event))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted((o.processed, o.duplicates) for o in outcomes) == [(0, 1), (1, 0)]
    assert effects(backbone_db)[str(env.id)]["times"] == 1


def test_a_failed_handler_leaves_no_trace_and_the_ledger_counts_the_failures(backbone_db: str) -> None:
    with psycopg.connect(backbone_db, autocommit=True) as conn:
        conn.execute(EFFECTS_DDL)
    db = Database(backbone_db)
    letters: list[DeadLetter] = []
    calls = {"n": 0}

    def flaky(conn: psycopg.Connection[Any], env: EventEnvelope) -> None:
        conn.execute("INSERT INTO public.bb_effects (event_id, aggregate_id, n) VALUES (%s, %s, 1)",
                     (env.id, env.aggregate_id))
        calls["n"] += 1
        raise RuntimeError("downstream said no")

    env = new_event("course.tested", "a", {"n": 1})
    event = msk_event([Rec(env.model_dump_json().encode(), 41)], "b", "arn")
    c = Consumer("flaky", lambda: db, {"course.tested": flaky}, schema="lms", max_attempts=3,
                 dead_letter=letters.append)
    assert c.handle(event)["batchItemFailures"]
    assert c.handle(event)["batchItemFailures"]
    assert c.handle(event) == {"batchItemFailures": []}  # third failure: dead-lettered
    assert calls["n"] == 3 and effects(backbone_db) == {}
    with psycopg.connect(backbone_db) as conn:
        row = conn.execute("SELECT attempts, error_type, last_error, dead_lettered_at IS NOT NULL, event_id "
                           "FROM lms.consumer_failures WHERE consumer = 'flaky'").fetchone()
        processed = conn.execute("SELECT count(*) FROM lms.processed_events").fetchone()
    assert row is not None and row[:4] == (3, "RuntimeError", "RuntimeError: downstream said no", True)
    assert str(row[4]) == str(env.id)
    assert processed == (0,)
    assert letters[0].attempts == 3 and letters[0].reason == "RuntimeError: downstream said no"
