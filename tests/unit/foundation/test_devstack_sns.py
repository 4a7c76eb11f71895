"""The local runtime's SNS trigger without a stack: the SQS body of an SNS subscription (SNS's JSON
envelope, or the message itself with raw delivery) becomes the event Lambda gets from SNS, and a
message is deleted only once the function took it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devstack.template import SnsEvent
from devstack.triggers import SnsQueueTrigger, sns_event

TOPIC = "arn:aws:sns:us-east-1:123456789012:smartcourse-qa-email-feedback"
SUBSCRIPTION = f"{TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"


def envelope(message: Any) -> str:
    """What SNS puts in an SQS queue it delivers to (no raw delivery)."""
    return json.dumps({"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC, "Message": message,
                       "Timestamp": "2026-12-06T10:00:00.000Z", "SignatureVersion": "2", "Signature": "c2ln",
                       "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
                       "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
                                         f"&SubscriptionArn={SUBSCRIPTION}",
                       "MessageAttributes": {"kind": {"Type": "String", "Value": "bounce"}}})


def test_an_sns_envelope_becomes_lambdas_sns_event() -> None:
    event = sns_event(envelope('{"eventType": "Bounce"}'), TOPIC, "sqs-1")
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == SUBSCRIPTION
    sns = record["Sns"]
    assert sns["Type"] == "Notification" and sns["MessageId"] == "m-1" and sns["TopicArn"] == TOPIC
    assert sns["Message"] == '{"eventType": "Bounce"}' and sns["Timestamp"] == "2026-12-06T10:00:00.000Z"
    assert sns["SigningCertUrl"].endswith("cert.pem") and sns["UnsubscribeUrl"].endswith(SUBSCRIPTION)
    assert sns["MessageAttributes"] == {"kind": {"Type": "String", "Value": "bounce"}}


def test_a_message_moto_left_as_an_object_reaches_the_function_as_text() -> None:
    event = sns_event(envelope({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent"}}), TOPIC, "s")
    message = event["Records"][0]["Sns"]["Message"]
    assert isinstance(message, str) and json.loads(message)["bounce"]["bounceType"] == "Permanent"


def test_raw_delivery_the_body_is_the_message() -> None:
    event = sns_event('{"eventType": "Complaint"}', TOPIC, "sqs-7")
    sns = event["Records"][0]["Sns"]
    assert sns["Message"] == '{"eventType": "Complaint"}' and sns["MessageId"] == "sqs-7" and sns["TopicArn"] == TOPIC
    assert event["Records"][0]["EventSubscriptionArn"].startswith(TOPIC) and sns["Timestamp"].endswith("Z")


@dataclass
class Result:
    ok: bool
    error: str | None = None
    interrupted: bool = False  # the runtime stopped during the invocation (devstack.invoker.InvokeResult)


class FakePool:
    def __init__(self, outcomes: list[bool]) -> None:
        self.outcomes = outcomes
        self.events: list[dict[str, Any]] = []
        self.spec = type("Spec", (), {"logical_id": "NotificationsFunction"})()

    def invoke(self, event: dict[str, Any]) -> Result:
        self.events.append(event)
        ok = self.outcomes.pop(0)
        return Result(ok, None if ok else "Boom: failed")


class FakeSqs:
    def __init__(self, bodies: list[str]) -> None:
        self.messages = [{"MessageId": f"q-{i}", "ReceiptHandle": f"r-{i}", "Body": b} for i, b in enumerate(bodies)]
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": list(self.messages)}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:  # boto3's parameter names
        self.deleted.append(ReceiptHandle)


def test_the_trigger_invokes_once_per_message_and_keeps_a_failed_one_for_a_retry() -> None:
    pool, sqs = FakePool([True, False]), FakeSqs([envelope("one"), envelope("two")])
    trigger = SnsQueueTrigger(pool, SnsEvent("EmailFeedback", TOPIC), sqs, "http://queue")  # type: ignore[arg-type]
    assert trigger.poll_once(0) == 2
    assert [e["Records"][0]["Sns"]["Message"] for e in pool.events] == ["one", "two"]
    assert sqs.deleted == ["r-0"]  # the failed one stays: SQS redelivers it, then its DLQ after 3 receives
    assert trigger.invocations == 2 and trigger.failures == 1
    assert trigger.name == "sns:NotificationsFunction:EmailFeedback"
