"""SES bounces and complaints on the real stack: SES -> SNS -> SQS -> NotificationsFunction ->
notify.suppressions. In AWS the configuration set's event destination publishes them; locally
moto publishes its fixed sample feedback to the sender domain's identity notification topic (the
same topic: `devstack.provision.ensure_email_feedback`) when an email goes to an address
containing "bounce" or "complaint". Its sample bounce names recipient1@example.com (5.0.0,
failed) and recipient2@example.com (4.0.0, delayed); its complaint names recipient1@example.com
(moto/ses/feedback.py)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from devstack.provision import ensure_email_feedback
from devstack.runtime import LocalRuntime, RuntimeOptions
from devstack.stack import aws_clients
from devstack.triggers import SnsQueueTrigger, sns_event
from smartcourse.events import EventEnvelope
from smartcourse.notifications.domain import Outgoing
from tests.integration.lms.conftest import PASSWORD, Api
from tests.integration.notifications.conftest import Ctx
from tests.integration.notifications.test_emails import consume, emails, schedule, sent_to

pytestmark = pytest.mark.integration

FAILED, DELAYED = "recipient1@example.com", "recipient2@example.com"  # moto's sample recipients
EVENT = ("NotificationsFunction", "EmailFeedback")


@pytest.fixture
def sqs(stack_endpoints: Any) -> Any:
    return aws_clients(stack_endpoints.aws_endpoint_url)[1]


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message waiting in the queue, deleted."""
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out.extend(got)


@pytest.fixture
def feedback_queue(provisioned: dict[tuple[str, str], str], template: Any, stack_endpoints: Any, sqs: Any,
                   db: psycopg.Connection[Any]) -> str:
    """This stage's feedback queue, empty, with the sender domain's feedback pointed at this stage's
    topic again (moto keeps one topic per domain: a session sharing moto may have taken it), and
    moto's sample recipients not suppressed yet."""
    url = provisioned[EVENT]
    ensure_email_feedback(template, stack_endpoints.aws_endpoint_url, "us-east-1")
    drain(sqs, url)
    db.execute("DELETE FROM notify.suppressions WHERE address IN (%s, %s)", (FAILED, DELAYED))
    return url


def suppression(db: psycopg.Connection[Any], address: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = db.execute("SELECT * FROM notify.suppressions WHERE address = %s",
                                            (address,)).fetchone()
    return row


def register(api: Api, email: str) -> tuple[str, dict[str, Any]]:
    r = api.call("POST", "/auth/register", json_body={"email": email, "password": PASSWORD, "name": "Learner",
                                                      "role": "student"})
    assert r.status == 201, r
    login = api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD})
    assert login.status == 200, login
    return login.body["access_token"], r.body["user"]


def enrol(api: Api, db: psycopg.Connection[Any], learner: str) -> EventEnvelope:
    teacher, _ = api.user("instructor")
    course = api.published_course(teacher, lessons=1)["course"]
    enrolled = api.call("POST", f"/courses/{course['id']}/enrollments", learner)
    assert enrolled.status == 201, enrolled
    row = db.execute("SELECT payload FROM lms.outbox WHERE event_type = 'smartcourse.enrollment.created.v1' "
                     "AND aggregate_id = %s", (enrolled.body["id"],)).fetchone()
    assert row is not None
    return EventEnvelope.model_validate(row["payload"])


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


@pytest.fixture
def runtime(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any, stage: str,
            sqs: Any) -> Iterator[LocalRuntime]:
    """NotificationsFunction with only its SNS trigger, as `make run` drives it."""
    rt = LocalRuntime(template, function_env,
                      RuntimeOptions(http=False, schedules=False, s3=False, msk=False,
                                     only_functions={"NotificationsFunction"}),
                      stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                      s3_queues=provisioned)
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


def test_a_hard_bounce_reaches_the_function_through_sns_and_suppresses_only_the_failed_recipient(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str], feedback_queue: str,
        runtime: LocalRuntime, sqs: Any) -> None:
    [trigger] = [t for t in runtime.triggers if isinstance(t, SnsQueueTrigger)]
    assert trigger.event.name == "EmailFeedback" and trigger.queue_url == feedback_queue
    # A learner whose mail bounces enrols; the schedule sends the email through SES (the real path)
    learner, me = register(api, f"bounce-{secrets.token_hex(4)}@example.com")
    consume(fn, in_process_env, enrol(api, db, learner))
    schedule(fn)
    [email] = emails(db, me["id"])
    assert email["status"] == "sent"
    # moto published its sample bounce to the topic; the runtime's SNS trigger invoked the function
    row = wait_for(lambda: suppression(db, FAILED))
    assert row is not None and row["reason"] == "bounce"
    assert suppression(db, DELAYED) is None  # 4.0.0 "delayed": a soft failure never suppresses
    assert wait_for(lambda: trigger.invocations >= 1) and trigger.failures == 0
    assert drain(sqs, feedback_queue) == []  # taken and deleted


def test_a_complaint_suppresses_its_recipient_and_a_replayed_message_changes_nothing(
        db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str], feedback_queue: str, sqs: Any,
        template: Any) -> None:
    # Sent through the function's own mailer (SES v2, with its configuration set) to a complaining address
    mailer = fn.deps().mailer
    assert mailer.configuration_set == template.function("NotificationsFunction").environment["EMAIL_CONFIGURATION_SET"]
    mailer.send(Outgoing(f"complaint-{secrets.token_hex(4)}@example.com", "Hello", "text", "<p>html</p>", None))
    [msg] = wait_for(lambda: drain(sqs, feedback_queue), timeout=10)
    event = sns_event(msg["Body"], template.function("NotificationsFunction").sns_events[0].topic_arn,
                      msg["MessageId"])  # what the runtime's trigger invokes the function with
    assert json.loads(event["Records"][0]["Sns"]["Message"])["complaint"]["complainedRecipients"]
    out = fn.handler(event, Ctx())
    assert out["suppressed"] == 1 and out["malformed"] == 0
    first = suppression(db, FAILED)
    assert first is not None and first["reason"] == "complaint"
    # SNS delivers at least once: the same message again changes nothing
    again = fn.handler(event, Ctx())
    assert again["suppressed"] == 0 and again["already_suppressed"] == 1
    assert suppression(db, FAILED) == first
    # A later bounce for the same address keeps the first reason and date
    bounce = {"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [
        {"emailAddress": FAILED, "action": "failed", "status": "5.1.1"}]}}
    fn.handler(sns_record(bounce), Ctx())
    assert suppression(db, FAILED) == first


def sns_record(message: Any, message_id: str | None = None) -> dict[str, Any]:
    """One Lambda SNS event as AWS invokes the function with it (the configuration set's shape)."""
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                         "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:feedback:sub",
                         "Sns": {"Type": "Notification", "MessageId": message_id or secrets.token_hex(8),
                                 "TopicArn": "arn:aws:sns:us-east-1:123456789012:feedback",
                                 "Message": message if isinstance(message, str) else json.dumps(message),
                                 "Timestamp": "2026-12-06T10:00:00.000Z"}}]}


def test_a_complained_learner_gets_no_more_email_and_malformed_feedback_fails_nothing(
        api: Api, db: psycopg.Connection[Any], fn: Any, in_process_env: dict[str, str]) -> None:
    learner, me = register(api, f"learner-{secrets.token_hex(4)}@example.com")
    consume(fn, in_process_env, enrol(api, db, learner))
    [pending] = emails(db, me["id"])
    assert pending["status"] == "pending"
    # Before the schedule sends it, SES reports a complaint (the address as the recipient's server wrote it)
    complaint = {"eventType": "Complaint", "mail": {"destination": [me["email"]]},
                 "complaint": {"complainedRecipients": [{"emailAddress": me["email"].upper()}],
                               "complaintFeedbackType": "abuse"}}
    event = sns_record(complaint)
    event["Records"] += sns_record("this is not SES feedback")["Records"]
    event["Records"] += sns_record({"eventType": "Bounce", "bounce": {"bounceType": "Transient", "bouncedRecipients": [
        {"emailAddress": "full@example.com", "action": "delayed", "status": "4.2.2"}]}})["Records"]
    event["Records"].append({"EventSource": "aws:sns", "Sns": {"MessageId": "no-message"}})
    out = fn.handler(event, Ctx())  # the malformed ones are logged and counted, the batch does not fail
    assert (out["messages"], out["suppressed"], out["malformed"], out["not_suppressed"]) == (4, 1, 2, 1)
    row = suppression(db, me["email"].lower())
    assert row is not None and row["reason"] == "complaint"
    assert suppression(db, "full@example.com") is None
    # The email queued before is not sent; a new one is queued suppressed
    schedule(fn)
    [held] = emails(db, me["id"])
    assert held["status"] == "suppressed"
    consume(fn, in_process_env, enrol(api, db, learner))
    assert [e["status"] for e in emails(db, me["id"])] == ["suppressed", "suppressed"]
    schedule(fn)
    assert sent_to(in_process_env["AWS_ENDPOINT_URL"], me["email"]) == []
