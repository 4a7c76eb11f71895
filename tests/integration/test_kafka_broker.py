"""The devstack Kafka broker: a real KRaft broker from Maven Central jars.

Starts a broker in a temporary directory on free ports, round-trips messages
through a topic with a committed consumer-group offset, restarts the broker on
the same directory and checks that both survived.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from devstack.kafka import KafkaBroker
from tests.conftest import free_ports

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "kafka"

TOPIC = "devstack.smoke"
GROUP = "devstack-smoke"
PARTITION = TopicPartition(TOPIC, 0)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    port, controller_port = free_ports(2)
    broker = KafkaBroker(tmp_path / "kafka", port=port, controller_port=controller_port, cache_dir=CACHE_DIR)
    try:
        yield broker
    finally:
        broker.stop()


def _consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


def _consume(consumer: KafkaConsumer, expected: int, timeout: float = 30.0) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    return values


def _produce(bootstrap: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(TOPIC, key=b"k", value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_broker_keeps_topics_and_offsets_across_restart(broker: KafkaBroker) -> None:
    first_batch = [f"message-{i}".encode() for i in range(5)]

    # --- cold start: format, create a topic, produce, consume, commit -------
    broker.start(timeout=120)
    assert broker.is_running()
    bootstrap = broker.bootstrap_servers
    assert bootstrap == f"127.0.0.1:{broker.port}"

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        admin.wait_for_topics([TOPIC], timeout_ms=30000)
        assert TOPIC in admin.list_topics()
    finally:
        admin.close()

    _produce(bootstrap, first_batch)

    consumer = _consumer(bootstrap)
    try:
        assert _consume(consumer, len(first_batch)) == first_batch
        consumer.commit()
        assert consumer.committed(PARTITION) == len(first_batch)
    finally:
        consumer.close()

    broker.stop()
    assert not broker.is_running()
    assert (broker.data_dir / "kraft-combined-logs" / "meta.properties").exists()

    # --- warm restart on the same data dir -----------------------------------
    restarted = KafkaBroker(
        broker.data_dir,
        port=broker.port,
        controller_port=broker.controller_port,
        cache_dir=CACHE_DIR,
    )
    with restarted:
        admin = KafkaAdminClient(bootstrap_servers=restarted.bootstrap_servers)
        try:
            assert TOPIC in admin.list_topics()
            offsets = admin.list_group_offsets({GROUP: None})[GROUP]
            assert offsets[PARTITION].offset == len(first_batch)
        finally:
            admin.close()

        # The group resumes from its committed offset: only the new message arrives.
        _produce(restarted.bootstrap_servers, [b"after-restart"])
        consumer = _consumer(restarted.bootstrap_servers)
        try:
            assert _consume(consumer, 1) == [b"after-restart"]
            # Nothing older is redelivered.
            assert _consume(consumer, 1, timeout=2.0) == []
        finally:
            consumer.close()

    assert not restarted.is_running()
