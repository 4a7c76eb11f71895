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
from smartcourse.relay import Relay, RelaySettings

ROOT = Path(__file__).resolve().parents[1]
N = 20_000
AGGREGATES = 1_000
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
    payloads = [(str(uuid.uuid4()).encode(), new_event("course.benched", "a", {"i": i, "pad": PAD})
                 .model_dump_json().encode()) for i in range(N)]
    producer = new_producer(settings)
    topic = topic_for("course", prefix)
    producer.send(topic, value=b"warm-up", key=b"w").get(30)
    t0 = time.perf_counter()
    futures = [producer.send(topic, value=v, key=k, headers=[("id", k)]) for k, v in payloads]
    producer.flush(120)
    elapsed = time.perf_counter() - t0
    assert all(f.succeeded() for f in futures)
    producer.close(5)
    return N / elapsed


def _relay_rate(settings: RelaySettings, url: str) -> tuple[float, int]:
    _write(url, N)
    relay = Relay(settings, Database(url))
    relay.run_once()  # connect + metadata outside the timing (the raw producer warms up too)
    t0 = time.perf_counter()
    published = 0
    passes = 0
    while True:
        r = relay.run_once()
        passes += 1
        published += len(r.published)
        if not r.selected:
            break
    elapsed = time.perf_counter() - t0
    relay.close()
    return published / elapsed, passes


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
        raw = _raw_producer_rate(settings, prefix)
        relay, passes = _relay_rate(settings, url)
        lat = _latency(env, url, prefix)
    rows = [
        {"measure": "raw producer, events/s (same config: acks=all, idempotent, lz4)", "value": raw},
        {"measure": f"relay, events/s (batch {settings.relay_batch_size}, {passes} passes)", "value": relay},
        {"measure": "relay / raw producer", "value": relay / raw},
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
               "settings sending pre-built messages; relay: select FOR UPDATE SKIP LOCKED + advisory locks, "
               "validate, send, flush, mark, commit, one relay. Latency: one event per transaction every 20 ms, "
               "from the writer's commit to the consumer's transaction (relay polling every 100 ms when idle, "
               "local MSK trigger polling, consumer framework with processed_events), through the local runtime."),
    )
