"""Drives Schedule, S3, SNS and MSK events from template.yaml, the way AWS would."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.invoker import FunctionPool
from devstack.template import MskEvent, ScheduleEvent, SnsEvent

log = logging.getLogger("devstack.triggers")


class Trigger(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.invocations = 0
        self.failures = 0

    def stop(self) -> None:
        self.stopping.set()


class ScheduleTrigger(Trigger):
    """EventBridge `rate(...)`: fires at the template's rate, or faster locally: `local_rate_s` is
    the local period of a one-minute schedule, and every schedule keeps its ratio to a minute (with
    0.5 s, the relay's `rate(1 minute)` fires every 0.5 s and the sweeps' `rate(5 minutes)` every
    2.5 s), so a speed-up for the relay does not turn the sweeps into a busy loop."""

    def __init__(self, pool: FunctionPool, event: ScheduleEvent, local_rate_s: float | None = None) -> None:
        super().__init__(f"schedule:{pool.spec.logical_id}:{event.name}")
        self.pool = pool
        self.event = event
        self.period = (event.rate_seconds if local_rate_s is None
                       else local_rate_s * event.rate_seconds / 60.0)

    def scheduled_event(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{self.pool.spec.logical_id}-{self.event.name}"],
            "detail": {},
        }

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            result = self.pool.invoke(self.scheduled_event())
            self.invocations += 1
            if result.interrupted:  # the runtime stopped while a long run (the relay's) was under way
                log.info("%s: interrupted by the runtime's shutdown", self.name)
            elif not result.ok:
                self.failures += 1
                log.warning("%s failed: %s", self.name, result.error)
            self.stopping.wait(max(0.0, self.period - (time.monotonic() - started)))


class QueueTrigger(Trigger):
    """An SQS queue's messages invoke the function, one message at a time (`event_of` makes the
    event). A failed invocation leaves the message for a retry; after 3 receives SQS moves it to
    the queue's DLQ."""

    def __init__(self, name: str, pool: FunctionPool, sqs: Any, queue_url: str) -> None:
        super().__init__(name)
        self.pool = pool
        self.sqs = sqs
        self.queue_url = queue_url

    def event_of(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """The function's event for one SQS message; None: nothing to deliver (deleted)."""
        raise NotImplementedError

    def poll_once(self, wait_s: int = 1) -> int:
        """Receive and deliver one batch; the number of messages handled."""
        resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        messages = resp.get("Messages", [])
        for msg in messages:
            event = self.event_of(msg)
            if event is None:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
                continue
            result = self.pool.invoke(event)
            self.invocations += 1
            if result.ok:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
            elif result.interrupted:  # left in the queue: received again after its visibility timeout
                log.info("%s: interrupted by the runtime's shutdown; the message stays queued", self.name)
            else:
                self.failures += 1
                log.warning("%s failed (will retry): %s", self.name, result.error)
        return len(messages)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # endpoint briefly unreachable: keep polling
                log.warning("%s: receive failed: %s", self.name, exc)
                self.stopping.wait(1.0)


class S3QueueTrigger(QueueTrigger):
    """S3 notifications reach the function through an SQS queue (moto delivers them on put)."""

    def __init__(self, pool: FunctionPool, event_name: str, sqs: Any, queue_url: str) -> None:
        super().__init__(f"s3:{pool.spec.logical_id}:{event_name}", pool, sqs, queue_url)

    def event_of(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        records = json.loads(msg["Body"]).get("Records")
        # s3:TestEvent on a newly configured queue, as on AWS: nothing to deliver
        return {"Records": records} if records else None


def sns_event(body: str, topic_arn: str, sqs_message_id: str) -> dict[str, Any]:
    """The Lambda SNS event for one SQS message of a queue subscribed to ``topic_arn``. Without
    raw delivery the body is SNS's JSON envelope (Type, MessageId, TopicArn, Message, Timestamp,
    signature fields); with it, the message itself. `Message` is always text, as Lambda gets it
    (moto puts the object SES published there as it is, so it is serialised back)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if not (isinstance(envelope, dict) and "Message" in envelope and "TopicArn" in envelope):
        envelope = {"Type": "Notification", "MessageId": sqs_message_id, "TopicArn": topic_arn, "Message": body,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    message = envelope["Message"]
    if not isinstance(message, str):
        message = json.dumps(message)
    unsubscribe = str(envelope.get("UnsubscribeURL") or "")
    subscription = (parse_qs(urlsplit(unsubscribe).query).get("SubscriptionArn") or [f"{topic_arn}:local"])[0]
    attributes = {k: {"Type": v.get("Type"), "Value": v.get("Value")}
                  for k, v in (envelope.get("MessageAttributes") or {}).items() if isinstance(v, dict)}
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope.get("MessageId", sqs_message_id),
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": message,
            "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion"),
            "Signature": envelope.get("Signature"),
            "SigningCertUrl": envelope.get("SigningCertURL"),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL"),
            "MessageAttributes": attributes,
        },
    }]}


class SnsQueueTrigger(QueueTrigger):
    """An SNS topic's messages reach the function through an SQS queue subscribed to it
    (provisioning does that): one invocation per message, with the event SNS gives Lambda (as
    Lambda's asynchronous invocation: retries, then the on-failure destination: here the DLQ)."""

    def __init__(self, pool: FunctionPool, event: SnsEvent, sqs: Any, queue_url: str) -> None:
        super().__init__(f"sns:{pool.spec.logical_id}:{event.name}", pool, sqs, queue_url)
        self.event = event

    def event_of(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        return sns_event(msg["Body"], self.event.topic_arn, msg["MessageId"])


Producer = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], None]


def msk_record(rec: Any) -> dict[str, Any]:
    return {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp": rec.timestamp,
        "timestampType": "CREATE_TIME" if rec.timestamp_type == 0 else "LOG_APPEND_TIME",
        "key": base64.b64encode(rec.key).decode() if rec.key is not None else None,
        "value": base64.b64encode(rec.value).decode() if rec.value is not None else None,
        "headers": [{k: list(v)} for k, v in (rec.headers or [])],
    }


def msk_event(records: list[Any], bootstrap: str, source_arn: str) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        grouped.setdefault(f"{rec.topic}-{rec.partition}", []).append(msk_record(rec))
    return {"eventSource": "aws:kafka", "eventSourceArn": source_arn, "bootstrapServers": bootstrap,
            "records": grouped}


class MskTrigger(Trigger):
    """One consumer group per event source mapping. A batch is retried (only its failed records,
    when the function reports `batchItemFailures`) up to MaximumRetryAttempts (AWS caps infinite
    retries at 10 when an on-failure destination is set), then the failed records go to the
    on-failure Kafka topic with the error in headers, and the offsets move on."""

    def __init__(self, pool: FunctionPool, event: MskEvent, bootstrap: str, *,
                 retry_backoff_s: float = 0.2, consumer_config: dict[str, Any] | None = None) -> None:
        super().__init__(f"msk:{pool.spec.logical_id}:{event.name}")
        self.pool = pool
        self.event = event
        self.bootstrap = bootstrap
        self.retry_backoff_s = retry_backoff_s
        self.consumer_config = consumer_config or {}
        self.dead_lettered = 0
        self.assigned = threading.Event()
        self.source_arn = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1"

    def _max_retries(self) -> int:
        n = self.event.maximum_retry_attempts
        if n < 0:
            return 10 if self.event.on_failure_destination else 1_000_000
        return n

    def _failed(self, result_payload: Any, batch: list[Any]) -> list[Any]:
        if not self.event.report_batch_item_failures or not isinstance(result_payload, dict):
            return []
        ids = set()
        for item in result_payload.get("batchItemFailures") or []:
            ident = item.get("itemIdentifier") or {}
            if isinstance(ident, dict):
                ids.add((str(ident.get("partition")), int(ident.get("offset", -1))))
        return [r for r in batch if (f"{r.topic}-{r.partition}", r.offset) in ids]

    def _dead_letter(self, producer: Any, records: list[Any], error: str) -> None:
        topic = self.event.dead_letter_topic
        if topic is None:
            log.error("%s: dropping %d record(s) with no on-failure destination: %s", self.name, len(records), error)
            return
        for rec in records:
            headers = [
                *list(rec.headers or []),
                ("x-failure-reason", error[:1000].encode()),
                ("x-source-topic", rec.topic.encode()),
                ("x-source-partition", str(rec.partition).encode()),
                ("x-source-offset", str(rec.offset).encode()),
                ("x-function", self.pool.spec.logical_id.encode()),
            ]
            producer.send(topic, key=rec.key, value=rec.value, headers=headers)
        producer.flush(30)
        self.dead_lettered += len(records)

    def process(self, batch: list[Any], producer: Any) -> None:
        pending = batch
        attempt = 0
        while pending and not self.stopping.is_set():
            result = self.pool.invoke(msk_event(pending, self.bootstrap, self.source_arn))
            self.invocations += 1
            if result.interrupted:  # stopping: the batch is not committed and comes again on the next start
                return
            if result.ok:
                failed = self._failed(result.payload, pending)
                error = "function reported the record as failed (batchItemFailures)"
            else:
                failed, error = pending, result.error or "function error"
            if not failed:
                return
            self.failures += 1
            attempt += 1
            if attempt > self._max_retries():
                self._dead_letter(producer, failed, error)
                return
            pending = failed
            self.stopping.wait(min(5.0, self.retry_backoff_s * 2 ** (attempt - 1)))

    def run(self) -> None:
        # Like the ESM poller, a broker outage never ends the mapping: the poller reconnects and
        # resumes from the last committed offsets (a batch whose commit failed comes again).
        while not self.stopping.is_set():
            try:
                self._poll_until_stopped()
            except Exception as exc:
                log.warning("%s: lost the broker (%s: %s); reconnecting", self.name, type(exc).__name__, exc)
                self.stopping.wait(1.0)

    def _poll_until_stopped(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata

        consumer = KafkaConsumer(
            *self.event.topics,
            bootstrap_servers=self.bootstrap,
            group_id=self.event.consumer_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self.event.starting_position == "TRIM_HORIZON" else "latest",
            max_poll_records=self.event.batch_size,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            **self.consumer_config,
        )
        producer = None
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **self.consumer_config)
            while not self.stopping.is_set():
                polled = consumer.poll(timeout_ms=500, max_records=self.event.batch_size)
                if consumer.assignment():
                    self.assigned.set()
                batch = [rec for recs in polled.values() for rec in recs]
                if not batch:
                    continue
                self.process(batch, producer)
                if self.stopping.is_set():
                    break  # not committed: redelivered on the next start, as after a crash
                offsets = {}
                for tp, recs in polled.items():
                    offsets[tp] = OffsetAndMetadata(recs[-1].offset + 1, "", -1)
                consumer.commit(offsets)
        finally:
            with contextlib.suppress(Exception):
                consumer.close()
            if producer is not None:
                with contextlib.suppress(Exception):
                    producer.close(5)
