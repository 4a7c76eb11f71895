"""Creates what the functions expect, idempotently: buckets, S3 -> SQS notifications for the
local runtime's S3 triggers, SNS topics with an SQS subscription for its SNS triggers, the SES
identities and their feedback topics, and the Kafka topics of config/kafka-topics.yaml."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.template import S3Event, SnsEvent, Template

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


def queue_name(stage: str, function: str, event: S3Event | SnsEvent) -> str:
    return f"smartcourse-{stage}-{function}-{event.name}"[:80]


def _event_queue(sqs: Any, name: str, timeout: int) -> tuple[str, str]:
    """An SQS queue for one trigger, with a DLQ after 3 receives (as Lambda's asynchronous
    invocation: the first attempt and 2 retries). Returns (url, arn)."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq"[:80])["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(max(30, timeout + 5)),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
    })["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _aws_client(service: str, endpoint_url: str, region: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name=region,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))


def ensure_buckets_and_notifications(template: Template, stage: str, s3: Any, sqs: Any) -> dict[tuple[str, str], str]:
    """Buckets from the template; one SQS queue (with a DLQ after 3 receives) per S3 trigger and
    per SNS trigger (subscribed to its topic); the SES identities and their feedback topics.
    Returns {(function, event name): queue url} for the S3 and SNS triggers (the runtime's
    `s3_queues`)."""
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
            url, arn = _event_queue(sqs, name, fn.timeout)
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
    endpoint, region = s3.meta.endpoint_url, s3.meta.region_name
    queues.update(ensure_sns_subscriptions(template, stage, sqs, _aws_client("sns", endpoint, region)))
    ensure_email_identities(template, endpoint, region)
    ensure_email_feedback(template, endpoint, region)
    return queues


def ensure_sns_subscriptions(template: Template, stage: str, sqs: Any, sns: Any) -> dict[tuple[str, str], str]:
    """Each SNS trigger's topic (named as in the template, so per stage) and an SQS queue
    subscribed to it, without raw delivery: the queue receives SNS's JSON envelope, which the
    runtime's trigger unwraps into the Lambda SNS event. Returns {(function, event name): queue url}."""
    queues: dict[tuple[str, str], str] = {}
    for fn in template.functions.values():
        for ev in fn.sns_events:
            topic_arn = sns.create_topic(Name=ev.topic_name)["TopicArn"]
            url, arn = _event_queue(sqs, queue_name(stage, fn.logical_id, ev), fn.timeout)
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                               "Action": "sqs:SendMessage", "Resource": arn,
                               "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})})
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)  # idempotent, as in AWS
            queues[(fn.logical_id, ev.name)] = url
    return queues


#: Environment variables naming an SES identity a function sends from.
SENDER_SETTINGS = ("NOTIFICATIONS_SENDER",)


def ensure_email_identities(template: Template, endpoint_url: str, region: str) -> list[str]:
    """The SES identities the template's functions send from, verified (in AWS that is done once,
    by the operator, with DNS records: docs/notifications.md). Same endpoint as S3 (moto)."""
    ses = _aws_client("sesv2", endpoint_url, region)
    senders = sorted({fn.environment[k] for fn in template.functions.values() for k in SENDER_SETTINGS
                      if fn.environment.get(k)})
    for sender in senders:
        with contextlib.suppress(ses.exceptions.AlreadyExistsException):
            ses.create_email_identity(EmailIdentity=sender)
    return senders


#: Environment variables naming the SES configuration set a function sends with.
CONFIGURATION_SET_SETTINGS = ("EMAIL_CONFIGURATION_SET",)
#: Event types of an event destination (CloudFormation's names) -> SES v1 identity notification types.
IDENTITY_NOTIFICATION_TYPES = {"bounce": "Bounce", "complaint": "Complaint", "delivery": "Delivery"}


def ensure_email_feedback(template: Template, endpoint_url: str, region: str) -> list[tuple[str, str, str]]:
    """SES feedback, locally. In AWS the configuration set's event destination publishes the
    functions' bounces and complaints to its topic. moto keeps configuration sets but publishes no
    events from them: it emits feedback only through SES v1 identity notification topics, for the
    sending domain (an email to an address containing "bounce" or "complaint" publishes a fixed
    sample message). So each configuration set a function sends with is created, and its sender's
    domain gets the destination's topic for the destination's event types: the same topic, the
    same function. moto keeps one topic per domain and type, so of several stages sharing one
    moto and one sender the one provisioned last receives the feedback.
    Returns (domain, notification type, topic arn) for each topic set."""
    from botocore.exceptions import ClientError

    sesv2 = _aws_client("sesv2", endpoint_url, region)
    ses = _aws_client("ses", endpoint_url, region)
    sns = _aws_client("sns", endpoint_url, region)
    pairs = sorted({(fn.environment[s], fn.environment[c]) for fn in template.functions.values()
                    for s in SENDER_SETTINGS for c in CONFIGURATION_SET_SETTINGS
                    if fn.environment.get(s) and fn.environment.get(c)})
    done: list[tuple[str, str, str]] = []
    for sender, configuration_set in pairs:
        try:
            sesv2.create_configuration_set(ConfigurationSetName=configuration_set)
        except ClientError as exc:  # AWS says AlreadyExistsException, moto ConfigurationSetAlreadyExistsException
            if "AlreadyExists" not in str(exc.response.get("Error", {}).get("Code", "")):
                raise
        domain = sender.rpartition("@")[2].lower()
        for dest in template.email_event_destinations:
            if dest.configuration_set != configuration_set or not dest.enabled:
                continue
            topic_arn = sns.create_topic(Name=dest.topic_arn.rsplit(":", 1)[-1])["TopicArn"]  # moto publishes to it
            for event_type in dest.event_types:
                kind = IDENTITY_NOTIFICATION_TYPES.get(event_type)
                if kind is not None:
                    ses.set_identity_notification_topic(Identity=domain, NotificationType=kind, SnsTopic=topic_arn)
                    done.append((domain, kind, topic_arn))
    return done
