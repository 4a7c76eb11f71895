"""Creates what the functions expect, idempotently: buckets, S3 -> SQS notifications for the
local runtime's S3 triggers, and the Kafka topics of config/kafka-topics.yaml."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.template import S3Event, Template

ROOT = Path(__file__).resolve().parents[1]
TOPICS_FILE = ROOT / "config" / "kafka-topics.yaml"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int


def topic_specs(prefix: str, path: Path = TOPICS_FILE) -> list[TopicSpec]:
    cfg = yaml.safe_load(path.read_text())
    defaults = cfg.get("defaults", {})
    out = []
    for name, spec in (cfg.get("topics") or {}).items():
        merged = {**defaults, **(spec or {})}
        out.append(TopicSpec(f"{prefix}.{name}", int(merged["partitions"]), int(merged["retention_ms"])))
    return out


def ensure_topics(bootstrap: str, specs: list[TopicSpec], *, replication_factor: int = 1,
                  **client_config: Any) -> list[str]:
    """Create missing topics (and grow partitions); returns the names created now."""
    from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="smartcourse-provision", **client_config)
    try:
        existing = set(admin.list_topics())
        created = []
        new = [NewTopic(s.name, s.partitions, replication_factor, topic_configs={"retention.ms": str(s.retention_ms)})
               for s in specs if s.name not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, validate_only=False)
            created = [t.name for t in new]
        # Only topics that existed before this call can need more partitions: the ones created just
        # now have the configured count, and describing them right after creation can still show
        # partial metadata (which once made this ask the broker to "grow" a topic already at size).
        older = [s for s in specs if s.name in existing]
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in older])} \
            if older else {}
        grow = {s.name: NewPartitions(s.partitions) for s in older
                if 0 < described.get(s.name, s.partitions) < s.partitions}
        if grow:
            admin.create_partitions(grow)
        return created
    finally:
        admin.close()


def queue_name(stage: str, function: str, event: S3Event) -> str:
    return f"smartcourse-{stage}-{function}-{event.name}"[:80]


def ensure_buckets_and_notifications(template: Template, stage: str, s3: Any, sqs: Any) -> dict[tuple[str, str], str]:
    """Buckets from the template; one SQS queue (with a DLQ after 3 receives) per S3 trigger.
    Returns {(function, event name): queue url}."""
    for bucket in template.buckets.values():
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
            "AllowedMethods": ["GET", "PUT", "POST"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"],
            "MaxAgeSeconds": 3000}]})
    queues: dict[tuple[str, str], str] = {}
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for fn in template.functions.values():
        for ev in fn.s3_events:
            name = queue_name(stage, fn.logical_id, ev)
            dlq_url = sqs.create_queue(QueueName=f"{name}-dlq"[:80])["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            url = sqs.create_queue(QueueName=name, Attributes={
                "VisibilityTimeout": str(max(30, fn.timeout + 5)),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
            })["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            queues[(fn.logical_id, ev.name)] = url
            cfg: dict[str, Any] = {"Id": name, "QueueArn": arn, "Events": list(ev.events)}
            rules = []
            if ev.prefix:
                rules.append({"Name": "prefix", "Value": ev.prefix})
            if ev.suffix:
                rules.append({"Name": "suffix", "Value": ev.suffix})
            if rules:
                cfg["Filter"] = {"Key": {"FilterRules": rules}}
            by_bucket.setdefault(ev.bucket_name, []).append(cfg)
    for bucket, configs in by_bucket.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})
    ensure_email_identities(template, s3.meta.endpoint_url, s3.meta.region_name)
    return queues


#: Environment variables naming an SES identity a function sends from.
SENDER_SETTINGS = ("NOTIFICATIONS_SENDER",)


def ensure_email_identities(template: Template, endpoint_url: str, region: str) -> list[str]:
    """The SES identities the template's functions send from, verified (in AWS that is done once,
    by the operator, with DNS records: docs/notifications.md). Same endpoint as S3 (moto)."""
    import boto3

    ses = boto3.client("sesv2", endpoint_url=endpoint_url, region_name=region,
                       aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                       aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    senders = sorted({fn.environment[k] for fn in template.functions.values() for k in SENDER_SETTINGS
                      if fn.environment.get(k)})
    for sender in senders:
        with contextlib.suppress(ses.exceptions.AlreadyExistsException):
            ses.create_email_identity(EmailIdentity=sender)
    return senders
