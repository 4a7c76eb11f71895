"""The relay's publish step and the Kafka client config, with fakes (no services)."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import pytest
from kafka import errors as ke

from smartcourse.errors import ConfigurationError
from smartcourse.events import new_event
from smartcourse.kafka_client import client_config, producer_config
from smartcourse.relay import OutboxRow, PassResult, Relay, RelaySettings, Unpublishable, build_message
from smartcourse.settings import KafkaSettings


class FakeFuture:
    def __init__(self, exc: Exception | None = None, done: bool = True) -> None:
        self.is_done = done
        self.exception = exc

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None


class FakeProducer:
    def __init__(self, outcome: Any = None) -> None:
        self.outcome = outcome or (lambda topic, value: FakeFuture())
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.closed = False

    def send(self, topic: str, value: Any = None, key: Any = None, headers: Any = None) -> Any:
        result = self.outcome(topic, value)
        if isinstance(result, Exception):
            raise result
        self.sent.append((topic, key, value, headers))
        return result

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def row(seq: int, agg: str = "a", pad: str = "") -> OutboxRow:
    e = new_event("course.tested", agg, {"n": seq, "pad": pad}, correlation_id="c-1")
    return OutboxRow(seq, e.id, e.type, e.aggregate_type, e.aggregate_id, e.correlation_id, e.model_dump_json(), 0)


def relay(producer: FakeProducer) -> Relay:
    return Relay(RelaySettings(topic_prefix="p.s"), database=None, producer_factory=lambda: producer)  # type: ignore[arg-type]


def test_message_is_keyed_by_aggregate_with_debezium_style_headers() -> None:
    r = row(1)
    msg = build_message(r, "smartcourse.dev")
    assert msg.topic == "smartcourse.dev.course"
    assert msg.key == b"a"
    assert dict(msg.headers) == {"id": str(r.id).encode(), "event_type": b"smartcourse.course.tested.v1",
                                 "aggregate_type": b"course", "correlation_id": b"c-1"}


def test_the_relay_names_the_partition_the_default_partitioner_would_choose() -> None:
    """murmur2 read four bytes at a time equals kafka-python's (and so the Java client's), and a
    producer that lists a topic's partitions gets each keyed message's partition named, the one
    its default partitioner picks for the key, so a consumer sees no difference."""
    import os

    from kafka.cluster import ClusterMetadata
    from kafka.partitioner.default import DefaultPartitioner
    from kafka.partitioner.default import murmur2 as kafka_murmur2

    from smartcourse.relay import murmur2

    for length in range(0, 70):
        for _ in range(20):
            data = os.urandom(length)
            assert murmur2(data) == kafka_murmur2(data), data

    class PartitionedProducer(FakeProducer):
        def __init__(self, partitions: set[int]) -> None:
            super().__init__()
            self.partitions = partitions
            self.partition_of: dict[bytes, int | None] = {}

        def partitions_for(self, topic: str) -> set[int]:
            return self.partitions

        def send(self, topic: str, value: Any = None, key: Any = None, headers: Any = None,
                 partition: int | None = None) -> Any:
            self.partition_of[key] = partition
            return super().send(topic, value, key, headers)

    class Cluster(ClusterMetadata):  # the partitioner's view of the same topic
        def __init__(self, partitions: set[int]) -> None:
            super().__init__()
            self.parts = partitions

        def topics(self, exclude_internal_topics: bool = True) -> set[str]:
            return {"p.s.course"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return self.parts

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return self.parts

    partitions = {0, 1, 2, 3, 4, 5}
    producer = PartitionedProducer(partitions)
    rows = [row(i, agg=str(uuid.uuid4())) for i in range(1, 101)]
    r = relay(producer)
    r.settle(r.send(rows, result := PassResult()), result)
    assert len(result.published) == 100 and len(producer.partition_of) == 100
    default = DefaultPartitioner()
    for key, partition in producer.partition_of.items():
        assert partition == default.partition("p.s.course", None, key, None, None, Cluster(partitions))
    assert len(set(producer.partition_of.values())) == len(partitions)  # the keys spread over all of them
    # a producer that cannot list partitions chooses them itself
    plain = FakeProducer()
    relay(plain).send([row(1)], PassResult())
    assert len(plain.sent) == 1


def test_the_trace_context_of_the_writer_travels_in_the_traceparent_header() -> None:
    import dataclasses

    from smartcourse.observability import child_traceparent, parse_traceparent

    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    msg = build_message(dataclasses.replace(row(1), traceparent=parent), "smartcourse.dev")
    assert dict(msg.headers)["traceparent"] == parent.encode()
    assert "traceparent" not in dict(build_message(row(2), "smartcourse.dev").headers)  # none recorded: none sent
    # a consumer's span continues the producer's trace with a span id of its own
    child = parse_traceparent(child_traceparent(parent))
    assert child is not None and child[0] == "4bf92f3577b34da6a3ce929d0e0e4736" and child[1] != "00f067aa0ba902b7"
    # an invalid or absent parent starts a new trace
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "01-abc"):
        fresh = parse_traceparent(child_traceparent(bad))
        assert fresh is not None and fresh[0] != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_payload_that_is_not_an_envelope_or_disagrees_with_its_row_is_unpublishable() -> None:
    r = row(1)
    with pytest.raises(Unpublishable):
        build_message(OutboxRow(1, r.id, r.event_type, "course", "a", None, '{"x": 1}', 0), "p")
    with pytest.raises(Unpublishable):
        build_message(OutboxRow(1, uuid.uuid4(), r.event_type, "course", "a", None, r.payload, 0), "p")


def test_a_row_too_large_is_parked_and_later_rows_of_its_aggregate_are_held_back_others_go() -> None:
    def outcome(topic: str, value: bytes) -> Any:
        return ke.MessageSizeTooLargeError("too big") if len(value) > 1000 else FakeFuture()

    p = FakeProducer(outcome)
    result = PassResult()
    relay(p).publish([row(1, "a", pad="x" * 2000), row(2, "a"), row(3, "b")], result)
    assert [s for s, _ in result.parked] == [1]
    assert "MessageSizeTooLargeError" in result.parked[0][1]
    assert result.published == [3]
    assert result.held_back == 1 and result.failed == []


def test_a_broker_side_permanent_error_parks_and_a_transient_one_backs_off_and_resets_the_producer() -> None:
    futures = iter([FakeFuture(ke.MessageSizeTooLargeError("broker says no")),
                    FakeFuture(ke.NotLeaderForPartitionError()), FakeFuture(done=False)])
    p = FakeProducer(lambda topic, value: next(futures))
    r = relay(p)
    result = PassResult()
    r.publish([row(1, "a"), row(2, "b"), row(3, "c")], result)
    assert [s for s, _ in result.parked] == [1]
    assert result.failed == [2, 3]
    assert result.error
    assert p.closed and r._producer is None  # a new producer (and connection) next pass


def test_a_metadata_timeout_fails_the_row_and_the_rest_of_its_topic_without_waiting_again() -> None:
    calls: list[str] = []

    def outcome(topic: str, value: bytes) -> Any:
        calls.append(topic)
        return ke.KafkaTimeoutError("no metadata")

    result = PassResult()
    relay(FakeProducer(outcome)).publish([row(1, "a"), row(2, "b"), row(3, "c")], result)
    assert result.failed == [1, 2, 3]
    assert len(calls) == 1


def test_cannot_connect_backs_off_every_row() -> None:
    def factory() -> Any:
        raise ke.NoBrokersAvailable()

    r = Relay(RelaySettings(), database=None, producer_factory=factory)  # type: ignore[arg-type]
    result = PassResult()
    r.publish([row(1), row(2)], result)
    assert result.failed == [1, 2] and "NoBrokersAvailable" in (result.error or "")


def test_local_config_is_plaintext_and_msk_config_is_tls_with_iam() -> None:
    local = client_config(KafkaSettings(kafka_bootstrap_servers="127.0.0.1:9092"))
    assert local == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}
    msk = producer_config(KafkaSettings(kafka_bootstrap_servers="b-1:9098,b-2:9098",
                                        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="AWS_MSK_IAM"))
    assert msk["bootstrap_servers"] == ["b-1:9098", "b-2:9098"]
    assert msk["security_protocol"] == "SASL_SSL" and msk["sasl_mechanism"] == "AWS_MSK_IAM"
    assert isinstance(msk["ssl_context"], ssl.SSLContext)
    assert msk["acks"] == "all" and msk["enable_idempotence"] is True


def test_msk_iam_producer_is_accepted_by_kafka_python() -> None:
    # kafka-python validates the SASL mechanism when it builds the client; no connection is made here
    from kafka.net.sasl import get_sasl_mechanism

    assert get_sasl_mechanism("AWS_MSK_IAM").__name__ == "SaslMechanismAwsMskIam"


def test_sasl_ssl_without_a_mechanism_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        client_config(KafkaSettings(kafka_security_protocol="SASL_SSL"))


def test_a_pass_out_of_time_sends_nothing_more_and_leaves_its_rows_unmarked() -> None:
    import time

    p = FakeProducer()
    result = PassResult()
    relay(p).publish([row(1, "a"), row(2, "b")], result, stop_at=time.monotonic() - 1)
    assert p.sent == []
    assert result.held_back == 2 and result.published == [] and result.failed == [] and result.parked == []


def test_event_published_lines_are_the_lines_powertools_writes() -> None:
    """The relay formats one line a batch through Powertools and derives the others from it."""
    import dataclasses
    import io
    import json

    from smartcourse.observability import logger
    from smartcourse.relay import _published_keys, log_published

    traced = dataclasses.replace(row(2, "b"), traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    # correlation ids come from request headers: quotes, backslashes, control and non-ASCII characters
    odd = ['say "hi"', "back\\slash", "tab\tnew\nline\x00", "Grüße 日本 \u2028"]
    rows = [row(1, "a"), traced, dataclasses.replace(row(3, "c"), correlation_id=None),
            *(dataclasses.replace(row(4 + i, "d"), correlation_id=c) for i, c in enumerate(odd)),
            *(row(10 + i, "e") for i in range(12))]
    handler = logger.registered_handler
    saved = handler.stream  # type: ignore[attr-defined]
    fast, slow = io.StringIO(), io.StringIO()
    try:
        handler.stream = fast  # type: ignore[attr-defined]
        formatter: Any = logger.registered_formatter
        serialized: list[Any] = []

        def counting(log: Any) -> str:
            serialized.append(log)
            return str(type(formatter).serialize(formatter, log))

        formatter.serialize = counting
        try:
            log_published(rows)
        finally:
            del formatter.serialize
        handler.stream = slow  # type: ignore[attr-defined]
        for r in rows:
            logger.info("event published", extra=_published_keys(r))
    finally:
        handler.stream = saved  # type: ignore[attr-defined]

    def lines(out: io.StringIO) -> list[dict[str, Any]]:
        return [{k: v for k, v in json.loads(line).items() if k not in ("timestamp", "location")}
                for line in out.getvalue().split("\n") if line]  # not splitlines: U+2028 is in a value

    assert lines(fast) == lines(slow)
    assert [line.get("correlation_id") for line in lines(fast)] == ["c-1", "c-1", None, *odd, *["c-1"] * 12]
    # the first line, then a template and its check for each of the 3 sets of row keys: not a line a row
    assert len(serialized) == 7
    assert lines(fast)[1]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert lines(fast)[1]["linked_span_id"] == "00f067aa0ba902b7"


def test_a_line_template_is_refused_when_the_serializer_escapes_otherwise() -> None:
    """The template is checked against the serializer on its first row: one that escapes non-ASCII
    (ensure_ascii) cannot be reproduced, and the lines are then serialized whole."""
    import functools
    import json

    from smartcourse.relay import _LineTemplate

    base = {"level": "INFO", "message": "event published"}
    sample = {"event_id": "e-1", "correlation_id": "Grüße"}
    ascii_only = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=True)
    assert _LineTemplate.build(ascii_only, base, sample) is None
    native = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
    template = _LineTemplate.build(native, base, sample)
    assert template is not None
    other = {"event_id": 'e-"2"', "correlation_id": "x\ny"}
    assert template.render(other) == native({**base, **other})
    assert _LineTemplate.build(native, base, {"event_id": "e-1", "attempt": 3}) is None  # not a string


def test_int_array_is_a_postgres_array_literal() -> None:
    from smartcourse.relay import int_array

    assert int_array([3, 1, 2]) == "{3,1,2}"
    assert int_array([]) == "{}"
    assert int_array(iter((7,))) == "{7}"
