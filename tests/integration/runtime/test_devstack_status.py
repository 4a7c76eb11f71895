"""`python -m devstack status` against the real broker and SQS endpoint: consumer lag per group
and topic, the size of a topic (the dead-letter topic), and queue depths."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from devstack.observe import consumer_lag, queue_depths, topic_size
from devstack.provision import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


def test_lag_counts_what_a_group_has_not_consumed_and_sizes_count_records(stack_endpoints: Any) -> None:
    bootstrap = stack_endpoints.kafka_bootstrap_servers
    topic, group = f"status-{secrets.token_hex(4)}", f"status-group-{secrets.token_hex(4)}"
    ensure_topics(bootstrap, [TopicSpec(topic, 1, 3_600_000)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(5):
        producer.send(topic, key=b"k", value=str(i).encode())
    producer.flush(30)
    producer.close()
    # Given a group that committed offset 2 (it consumed records 0 and 1)
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1)})
    committer.close()
    # Then it lags 3 records; a group that never committed lags the whole topic
    lag = consumer_lag(bootstrap, {group: (topic,), f"{group}-new": (topic,)})
    assert lag == {group: {topic: 3}, f"{group}-new": {topic: 5}}
    assert topic_size(bootstrap, topic) == 5


def test_queue_depths_count_waiting_and_in_flight_messages(stack_endpoints: Any) -> None:
    from devstack.stack import aws_clients

    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    url = sqs.create_queue(QueueName=f"status-{secrets.token_hex(4)}")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)  # one in flight
    assert queue_depths(sqs, [url]) == {url.rsplit("/", 1)[-1]: 3}
    sqs.delete_queue(QueueUrl=url)
