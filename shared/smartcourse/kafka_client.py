"""kafka-python client configuration from `KafkaSettings`: PLAINTEXT locally, TLS + IAM on MSK.

In AWS (template.yaml Globals): KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SASL_MECHANISM=AWS_MSK_IAM,
bootstrap servers on port 9098. kafka-python 3.x ships the `AWS_MSK_IAM` SASL mechanism
(`kafka.net.sasl.msk`): for every broker connection it signs an `kafka-cluster:Connect` request
with SigV4 using botocore's default credential chain (in Lambda: the execution role's
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN) and the region from
AWS_DEFAULT_REGION (Lambda sets it). It requires `security_protocol="SASL_SSL"` and botocore
(present in the Lambda runtime). The token is signed per connection, so credential rotation needs
nothing from us. The IAM policy must allow kafka-cluster:Connect, DescribeTopic, WriteData (and
WriteDataIdempotently for the idempotent producer) for the relay.

kafka-python is imported lazily: importing this module costs nothing.
"""

from __future__ import annotations

import ssl
from typing import Any

from smartcourse.settings import KafkaSettings


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection settings shared by producers, consumers and admin clients."""
    cfg: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        cfg["ssl_context"] = ssl.create_default_context()
    if settings.kafka_security_protocol == "SASL_SSL":
        if settings.kafka_sasl_mechanism is None:
            from smartcourse.errors import ConfigurationError

            raise ConfigurationError("setting KAFKA_SASL_MECHANISM is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL")
        cfg["sasl_mechanism"] = settings.kafka_sasl_mechanism
    return cfg


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer: retries never duplicate or reorder within a partition."""
    cfg = client_config(settings)
    cfg.update({
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,  # <= 5 keeps order with idempotence
        "compression_type": "lz4",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
    })
    cfg.update(overrides)
    return cfg


def new_producer(settings: KafkaSettings, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(**producer_config(settings, **overrides))


class KafkaDeadLetterSink:
    """The consumer framework's dead-letter sink: `<TOPIC_PREFIX>.dlq`, keyed like the original.

    Usage: `Consumer(..., dead_letter=KafkaDeadLetterSink(load_settings(MySettings)))`. The producer
    is created on the first dead letter; a send is confirmed (acks=all) before the record counts
    as done.
    """

    def __init__(self, settings: KafkaSettings, topic: str | None = None, *, timeout_s: float = 10.0) -> None:
        from smartcourse.events import dead_letter_topic

        self.settings = settings
        self.topic = topic or dead_letter_topic(settings.topic_prefix)
        self.timeout_s = timeout_s
        self._producer: Any = None

    def __call__(self, letter: Any) -> None:
        if self._producer is None:
            self._producer = new_producer(self.settings, linger_ms=0, max_block_ms=int(self.timeout_s * 1000))
        future = self._producer.send(self.topic, key=letter.key, value=letter.value,
                                     headers=letter.dead_letter_headers())
        future.get(timeout=self.timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(5)
            self._producer = None
