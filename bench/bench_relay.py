"""Outbox relay throughput beside the raw producer, and commit-to-consumer latency through the
local runtime (relay on a fast schedule + an MSK-triggered consumer using the consumer framework)."""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_env
from bench.harness import Section, median, percentile
from devstack import template as tpl
from devstack.provision import ensure_topics, topic_specs
from devstack.runtime import LocalRuntime, RuntimeOptions
from smartcourse.db import Database
from smartcourse.events import new_event, topic_for
from smartcourse.kafka_client import new_producer
from smartcourse.outbox import write_event
from smartcourse.relay import OutboxRow, Relay, RelaySettings, build_message

ROOT = Path(__file__).resolve().parents[1]
N = 20_000
AGGREGATES = 1_000
ROUNDS = 3  # raw producer and relay take turns: drift on a shared machine hits both alike
LATENCY_EVENTS = 300
PAD = "x" * 870  # envelope JSON of about 1 KB

LATENCY_APP = '''
from smartcourse.consumer import Consumer
from smartcourse.db import Database
from smartcourse.observability import metrics
from smartcourse.settings import CommonSettings, load_settings, resolve_database_url

_c = None


def record(conn, env):
    conn.execute("INSERT INTO public.bench_latency (event_id) VALUES (%s) ON CONFLICT DO NOTHING", (env.id,))


@metrics.log_metrics
def handler(event, context):
    global _c
    if _c is None:
        db = Database(resolve_database_url(load_settings(CommonSettings)))
        _c = Consumer("bench-latency", lambda: db, {"course.benched": record}, schema="lms")
    return _c.handle(event)
'''


def _write(url: str, n: int, per_tx: int = 500) -> None:
    aggs = [str(uuid.uuid4()) for _ in range(AGGREGATES)]
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, n, per_tx):
            with conn.transaction():
                for i in range(start, min(n, start + per_tx)):
                    write_event(conn, new_event("course.benched", aggs[i % AGGREGATES], {"i": i, "pad": PAD}))


def _raw_producer_rate(settings: RelaySettings, prefix: str) -> float:
    """The relay's messages (topic, key = aggregate id, the envelope, the relay's headers), pre-built,
    through a producer with the relay's settings: what Kafka and kafka-python cost alone."""
    aggs = [str(uuid.uuid4()) for _ in range(AGGREGATES)]
    messages = []
    for i in range(N):
        e = new_event("course.benched", aggs[i % AGGREGATES], {"i": i, "pad": PAD})
        row = OutboxRow(i, e.id, e.type, e.aggregate_type, e.aggregate_id, e.correlation_id, e.model_dump_json(), 0)
        messages.append(build_message(row, prefix))
    producer = new_producer(settings)
    producer.send(topic_for("course", prefix), value=b"warm-up", key=b"w").get(30)
    t0 = time.perf_counter()
    futures = [producer.send(m.topic, value=m.value, key=m.key, headers=m.headers) for m in messages]
    producer.flush(120)
    elapsed = time.perf_counter() - t0
    assert all(f.succeeded() for f in futures)
    producer.close(5)
    return N / elapsed


def _relay_rate(settings: RelaySettings, url: str) -> tuple[float, int]:
    _write(url, N)
    relay = Relay(settings, Database(url), second_database=Database(url))  # as OutboxRelayFunction builds it
    warm = len(relay.run_once().published)  # connect + metadata outside the timing (the raw producer warms up too)
    relay.second_database.ping()  # type: ignore[union-attr]
    t0 = time.perf_counter()
    stats = relay.drain()  # the invocation's loop, until a pass finds nothing
    elapsed = time.perf_counter() - t0
    relay.close()
    assert warm + stats.published == N, (warm, stats)
    return stats.published / elapsed, stats.passes


def _latency(env: Any, url: str, prefix: str) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.bench_latency (event_id uuid PRIMARY KEY, "
                     "received_at timestamptz NOT NULL DEFAULT clock_timestamp())")
        conn.execute("TRUNCATE public.bench_latency")
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "fn").mkdir()
        (tmp / "fn" / "app.py").write_text(LATENCY_APP)
        common_env = {"POWERTOOLS_METRICS_NAMESPACE": "SmartCourseBench", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        doc = {"Resources": {
            "SharedLayer": {"Type": "AWS::Serverless::LayerVersion",
                            "Properties": {"ContentUri": str(ROOT / "shared")}},
            "OutboxRelayFunction": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": str(ROOT / "functions" / "outbox_relay"), "Handler": "app.handler", "Timeout": 30,
                "Layers": [{"Ref": "SharedLayer"}], "Environment": {"Variables": {
                    **common_env, "POWERTOOLS_SERVICE_NAME": "outbox-relay", "RELAY_SAFETY_MARGIN_MS": "2000"}},
                "Events": {"Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}}},
            "LatencyConsumer": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": str(tmp / "fn"), "Handler": "app.handler", "Timeout": 30,
                "Layers": [{"Ref": "SharedLayer"}], "Environment": {"Variables": {
                    **common_env, "POWERTOOLS_SERVICE_NAME": "bench-latency"}},
                "Events": {"Course": {"Type": "MSK", "Properties": {
                    "Stream": "arn:aws:kafka:us-east-1:123456789012:cluster/local/x",
                    "Topics": [topic_for("course", prefix)], "ConsumerGroupId": f"{prefix}-latency",
                    "StartingPosition": "LATEST", "BatchSize": 100, "MaximumRetryAttempts": 2,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}}},
        }}
        (tmp / "template.yaml").write_text(json.dumps(doc))
        template = tpl.load(tmp / "template.yaml")
        fenv = {**env.function_env(), "DATABASE_URL": url, "TOPIC_PREFIX": prefix}
        runtime = LocalRuntime(template, fenv, RuntimeOptions(http=False, s3=False, schedule_rate_s=1),
                               stage=env.stage, kafka_bootstrap=env.endpoints.kafka_bootstrap_servers)
        runtime.start()
        try:
            runtime.wait_for_consumers(60)
            # Warm both functions (cold starts are measured by bench_cold_start, not here)
            with psycopg.connect(url, autocommit=True) as conn:
                for i in range(5):
                    write_event(conn, new_event("course.benched", "warm-up", {"i": i}))
            _wait_rows(url, 5, 60)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE public.bench_latency")
            committed: dict[str, float] = {}
            with psycopg.connect(url, autocommit=True) as conn:
                for i in range(LATENCY_EVENTS):
                    e = new_event("course.benched", f"lat-{i % 10}", {"i": i, "pad": PAD})
                    with conn.transaction():
                        write_event(conn, e)
                    committed[str(e.id)] = time.time()
                    time.sleep(0.02)
            rows = _wait_rows(url, LATENCY_EVENTS, 60)
        finally:
            runtime.stop()
    return [(received - committed[eid]) * 1000 for eid, received in rows if eid in committed]


def _wait_rows(url: str, n: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT event_id::text, extract(epoch FROM received_at)::float8 "
                                "FROM public.bench_latency").fetchall()
        if len(rows) >= n:
            break
        time.sleep(0.2)
    return rows


def run() -> Section:
    with bench_env("benchrelay", provision=False) as env:
        url = env.database_url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE lms.outbox")
        prefix = f"smartcourse.benchrelay{secrets.token_hex(3)}"
        bootstrap = env.endpoints.kafka_bootstrap_servers
        ensure_topics(bootstrap, topic_specs(prefix))
        settings = RelaySettings(database_url=url, kafka_bootstrap_servers=bootstrap, topic_prefix=prefix,
                                 kafka_security_protocol="PLAINTEXT")
        raws, relays, ratios = [], [], []
        for _ in range(ROUNDS):
            raws.append(_raw_producer_rate(settings, prefix))
            rate, passes = _relay_rate(settings, url)
            relays.append(rate)
            ratios.append(rate / raws[-1])
        lat = _latency(env, url, prefix)
    rows = [
        {"measure": f"raw producer, events/s (same messages and config: acks=all, idempotent, lz4; median of "
                    f"{ROUNDS})", "value": median(raws)},
        {"measure": f"relay, events/s (batch {settings.relay_batch_size}, {passes} passes; median of {ROUNDS})",
         "value": median(relays)},
        {"measure": "relay / raw producer (median of the rounds' ratios; each round: "
                    + ", ".join(f"{r:.2f}" for r in ratios) + ")", "value": median(ratios)},
        {"measure": f"commit -> consumer latency p50 ms ({len(lat)} events)", "value": median(lat)},
        {"measure": "commit -> consumer latency p99 ms", "value": percentile(lat, 99)},
        {"measure": "commit -> consumer latency max ms", "value": max(lat) if lat else float("nan")},
    ]
    return Section(
        title="Outbox relay",
        rows=rows,
        order=40,
        notes=(f"{N:,} events of about 1 KB over {AGGREGATES:,} aggregates, shared devstack Kafka (one KRaft node) "
               "and Postgres on the same 2-core machine. Raw producer: kafka-python with the relay's producer "
               "settings sending the relay's messages (same topic, key, envelope and headers), pre-built; relay: "
               "the invocation's loop (`Relay.drain`) as OutboxRelayFunction builds it, two connections taking "
               "turns (select FOR UPDATE SKIP LOCKED, then the relay locks and the blocker check in one round "
               "trip, validate, send with the partition named (the default partitioner's choice, murmur2 "
               "computed beside the select), wait for the acknowledgements, mark in one statement, commit) with one "
               f"`event published` log line per event. Raw and relay take turns, {ROUNDS} rounds. "
               "Latency: one event per transaction every 20 ms, "
               "from the writer's commit to the consumer's transaction (an idle relay woken by LISTEN/NOTIFY at "
               "the commit, polling every 100 ms otherwise, "
               "local MSK trigger polling, consumer framework with processed_events), through the local runtime."),
    )
