"""The event backbone through the local runtime: outbox -> relay (Schedule) -> Kafka -> MSK trigger ->
consumer framework, with a poison record that ends on the dead-letter topic with its reason."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devstack import template as tpl
from devstack.runtime import LocalRuntime, RuntimeOptions
from smartcourse.events import new_event
from smartcourse.outbox import write_event

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

CONSUMER_APP = '''
from smartcourse.consumer import Consumer
from smartcourse.db import Database
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.observability import metrics
from smartcourse.settings import CommonSettings, KafkaSettings, load_settings, resolve_database_url


class Settings(CommonSettings, KafkaSettings):
    pass


_consumer = None


def effect(conn, env):
    if env.data.get("poison"):
        raise ValueError("poison pill: the handler refuses this event")
    conn.execute("INSERT INTO public.e2e_effects (event_id, n) VALUES (%s, %s) "
                 "ON CONFLICT (event_id) DO UPDATE SET times = e2e_effects.times + 1", (env.id, env.data["n"]))


@metrics.log_metrics
def handler(event, context):
    global _consumer
    if _consumer is None:
        s = load_settings(Settings)
        db = Database(resolve_database_url(s))
        _consumer = Consumer("e2e-consumer", lambda: db, {"course.tested": effect}, schema="lms",
                             max_attempts=3, dead_letter=KafkaDeadLetterSink(s))
    return _consumer.handle(event)
'''


def write_template(tmp: Path, prefix: str) -> Path:
    fn = tmp / "consumer_fn"
    fn.mkdir()
    (fn / "app.py").write_text(CONSUMER_APP)
    doc = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "SharedLayer": {"Type": "AWS::Serverless::LayerVersion",
                            "Properties": {"ContentUri": str(ROOT / "shared")}},
            "OutboxRelayFunction": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": str(ROOT / "functions" / "outbox_relay"), "Handler": "app.handler", "Timeout": 8,
                "Layers": [{"Ref": "SharedLayer"}],
                "Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "outbox-relay",
                                              "POWERTOOLS_METRICS_NAMESPACE": "SmartCourseTests",
                                              "RELAY_SAFETY_MARGIN_MS": "2000", "RELAY_IDLE_SLEEP_MS": "50"}},
                "Events": {"Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}}},
            "TestConsumerFunction": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": str(fn), "Handler": "app.handler", "Timeout": 30, "Layers": [{"Ref": "SharedLayer"}],
                "Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "e2e-consumer",
                                              "POWERTOOLS_METRICS_NAMESPACE": "SmartCourseTests"}},
                "Events": {"Course": {"Type": "MSK", "Properties": {
                    "Stream": "arn:aws:kafka:us-east-1:123456789012:cluster/local/x",
                    "Topics": [f"{prefix}.course"], "ConsumerGroupId": f"{prefix}-e2e-consumer",
                    "StartingPosition": "TRIM_HORIZON", "BatchSize": 50, "MaximumRetryAttempts": 5,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "DestinationConfig": {"OnFailure": {"Destination": f"kafka://{prefix}.dlq"}}}}}}},
        },
    }
    path = tmp / "template.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


@pytest.fixture
def backbone_env(stack_endpoints: Any, stage: str) -> Iterator[dict[str, str]]:
    from devstack.postgres import drop_database, ensure_database
    from devstack.provision import ensure_topics, topic_specs
    from smartcourse import migrate

    name = f"sc_{stage}_e2ebb{secrets.token_hex(3)}"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.e2e_effects (event_id uuid PRIMARY KEY, n int NOT NULL, "
                     "times int NOT NULL DEFAULT 1)")
    prefix = f"smartcourse.{stage}e2e{secrets.token_hex(3)}"
    ensure_topics(stack_endpoints.kafka_bootstrap_servers, topic_specs(prefix))
    yield {"DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": stack_endpoints.kafka_bootstrap_servers,
           "TOPIC_PREFIX": prefix, "STAGE": stage, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "AWS_REGION": "us-east-1"}
    drop_database(stack_endpoints.admin_database_url, name)


def read_all(bootstrap: str, topic: str, expected: int, timeout: float) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=300).values():
                out.extend(recs)
        return out
    finally:
        consumer.close()


def test_poison_records_go_to_the_dead_letter_topic_with_their_reason_and_the_rest_is_processed(
        tmp_path: Path, backbone_env: dict[str, str]) -> None:
    prefix = backbone_env["TOPIC_PREFIX"]
    bootstrap = backbone_env["KAFKA_BOOTSTRAP_SERVERS"]
    template = tpl.load(write_template(tmp_path, prefix))
    runtime = LocalRuntime(template, backbone_env,
                           RuntimeOptions(http=False, s3=False, schedule_rate_s=1, msk_retry_backoff_s=0.1,
                                          log_dir=tmp_path / "logs"),
                           stage=backbone_env["STAGE"], kafka_bootstrap=bootstrap)
    # Given 40 events of one aggregate committed through the outbox, the 20th refused by the handler
    events = []
    with psycopg.connect(backbone_env["DATABASE_URL"]) as conn:
        for n in range(1, 41):
            e = new_event("course.tested", "course-1", {"n": n, "poison": n == 20})
            write_event(conn, e)
            events.append(e)
    # And a record on the same partition that is not an event envelope at all
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(f"{prefix}.course", key=b"course-1", value=b"\x00not an envelope").get(10)
    producer.close()
    runtime.start()
    try:
        assert runtime.wait_for_consumers(60)
        # When the relay and the consumer run: then both poison records land on the dead-letter topic
        dead = read_all(bootstrap, f"{prefix}.dlq", expected=2, timeout=90)
        assert len(dead) == 2
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with psycopg.connect(backbone_env["DATABASE_URL"]) as conn:
                done = conn.execute("SELECT count(*) FROM public.e2e_effects").fetchone()
            if done == (39,):
                break
            time.sleep(0.2)
    finally:
        runtime.stop()
    # With their reasons, after a bounded number of attempts
    reasons = {dict(r.headers)["x-error-type"]: dict(r.headers) for r in dead}
    assert set(reasons) == {b"PoisonRecord", b"ValueError"}
    assert b"poison pill" in reasons[b"ValueError"]["x-failure-reason"]
    assert b"not a valid event envelope" in reasons[b"PoisonRecord"]["x-failure-reason"]
    assert {h["x-attempts"] for h in reasons.values()} == {b"3"}
    assert reasons[b"ValueError"]["id"] == str(events[19].id).encode()  # the relay's headers travel along
    # And every other event was processed exactly once
    with psycopg.connect(backbone_env["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT event_id::text, times FROM public.e2e_effects").fetchall()
    assert {r[0] for r in rows} == {str(e.id) for e in events if not e.data["poison"]}
    assert {r[1] for r in rows} == {1}
