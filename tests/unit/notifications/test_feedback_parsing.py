"""SES feedback -> the addresses to suppress, without I/O: both shapes SES publishes (event
publishing from the configuration set, what AWS sends; identity notifications, what moto sends,
with its placeholder type), only permanent failures of a hard bounce, every complained recipient,
and anything else refused as malformed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from smartcourse.notifications.feedback import Feedback, MalformedFeedback, Suppression, parse

MAIL = {"timestamp": "2026-12-06T10:00:00.000Z", "source": "notifications@smartcourse.example",
        "messageId": "0100018c-0000", "destination": ["Ann@Example.com"]}

# As moto publishes them (moto/ses/feedback.py): notificationType is a placeholder text.
MOTO_BOUNCE = {
    "notificationType": "Bounce, Complaint, or Delivery.", "mail": MAIL,
    "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [
        {"status": "5.0.0", "action": "failed", "diagnosticCode": "smtp; 550 user unknown",
         "emailAddress": "recipient1@example.com"},
        {"status": "4.0.0", "action": "delayed", "emailAddress": "recipient2@example.com"}],
        "reportingMTA": "example.com", "timestamp": "2012-05-25T14:59:38.605Z", "feedbackId": "f-1"},
}
MOTO_COMPLAINT = {
    "notificationType": "Bounce, Complaint, or Delivery.", "mail": MAIL,
    "complaint": {"complainedRecipients": [{"emailAddress": "recipient1@example.com"}],
                  "complaintFeedbackType": "abuse", "timestamp": "2012-05-25T14:59:38.623Z", "feedbackId": "f-2"},
}


def event_publishing(kind: str, body: dict[str, Any]) -> str:
    """What the configuration set's SNS event destination publishes (the SNS Message text)."""
    return json.dumps({"eventType": kind, "mail": MAIL, kind.lower(): body})


def test_moto_sample_bounce_suppresses_the_permanent_failure_only() -> None:
    fb = parse(json.dumps(MOTO_BOUNCE))
    assert fb.kind == "bounce" and fb.detail == "Permanent/General"
    assert fb.suppress == (Suppression("recipient1@example.com", "bounce"),)
    assert fb.kept == (("recipient2@example.com", "action 'delayed'"),)


def test_moto_sample_complaint_suppresses_its_recipient() -> None:
    fb = parse(json.dumps(MOTO_COMPLAINT))
    assert fb == Feedback("complaint", (Suppression("recipient1@example.com", "complaint"),), (), "abuse")


def test_identity_notification_with_a_real_type_is_read_the_same_way() -> None:
    msg = {**MOTO_BOUNCE, "notificationType": "Bounce"}
    assert parse(json.dumps(msg)).suppress == (Suppression("recipient1@example.com", "bounce"),)


def test_event_publishing_hard_bounce_lower_cases_and_deduplicates() -> None:
    fb = parse(event_publishing("Bounce", {
        "bounceType": "Permanent", "bounceSubType": "NoEmail", "bouncedRecipients": [
            {"emailAddress": "Ann@Example.COM", "action": "failed", "status": "5.1.1"},
            {"emailAddress": "ann@example.com", "status": "5.1.1"},          # status alone is enough
            {"emailAddress": "\"Bob B\" <Bob@Example.com>", "status": "5.2.1"}]}))
    assert fb.suppress == (Suppression("ann@example.com", "bounce"), Suppression("bob@example.com", "bounce"))


@pytest.mark.parametrize("recipient", [
    {"emailAddress": "x@example.com", "action": "delayed", "status": "4.4.7"},
    {"emailAddress": "x@example.com", "status": "4.2.2"},
    {"emailAddress": "x@example.com", "action": "delayed"},
    {"emailAddress": "x@example.com", "action": "relayed", "status": "2.0.0"},
])
def test_a_recipient_that_did_not_fail_permanently_is_never_suppressed(recipient: dict[str, str]) -> None:
    fb = parse(event_publishing("Bounce", {"bounceType": "Permanent", "bouncedRecipients": [recipient]}))
    assert fb.suppress == () and [a for a, _ in fb.kept] == ["x@example.com"]


def test_a_permanent_bounce_without_delivery_status_suppresses() -> None:
    # SES attaches no DSN when it did not try (the address is on a suppression list)
    fb = parse(event_publishing("Bounce", {"bounceType": "Permanent", "bounceSubType": "OnAccountSuppressionList",
                                           "bouncedRecipients": [{"emailAddress": "gone@example.com"}]}))
    assert fb.suppress == (Suppression("gone@example.com", "bounce"),)


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_soft_and_undetermined_bounces_suppress_nobody(bounce_type: str) -> None:
    fb = parse(event_publishing("Bounce", {"bounceType": bounce_type, "bounceSubType": "MailboxFull",
                                           "bouncedRecipients": [{"emailAddress": "full@example.com",
                                                                  "action": "failed", "status": "5.2.2"}]}))
    assert fb.kind == "bounce" and fb.suppress == ()
    assert fb.kept == (("full@example.com", f"{bounce_type} bounce"),)


def test_event_publishing_complaint_suppresses_every_complained_recipient() -> None:
    fb = parse(event_publishing("Complaint", {"complainedRecipients": [
        {"emailAddress": "A@example.com"}, {"emailAddress": "b@example.com"}], "complaintFeedbackType": "abuse"}))
    assert [s.address for s in fb.suppress] == ["a@example.com", "b@example.com"]
    assert {s.reason for s in fb.suppress} == {"complaint"}


@pytest.mark.parametrize("message", [
    json.dumps({"eventType": "Delivery", "mail": MAIL, "delivery": {"recipients": ["a@example.com"]}}),
    json.dumps({"eventType": "Open", "mail": MAIL, "open": {}}),
    json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "You have subscribed..."}),
])
def test_other_event_types_are_valid_and_suppress_nothing(message: str) -> None:
    fb = parse(message)
    assert fb.suppress == () and fb.kind in ("Delivery", "Open", "AmazonSnsSubscriptionSucceeded")


def _without_recipients() -> dict[str, Any]:
    msg = copy.deepcopy(MOTO_BOUNCE)
    del msg["bounce"]["bouncedRecipients"]
    return msg


@pytest.mark.parametrize("message", [
    "not json", "[1, 2]", "null", json.dumps({}), json.dumps({"hello": "world"}),
    json.dumps({"eventType": "Bounce", "mail": MAIL}),                                  # no bounce object
    json.dumps(_without_recipients()),
    json.dumps({"eventType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": "a@b.c"}]}}),  # no type
    json.dumps({"eventType": "Complaint", "complaint": {"complainedRecipients": []}}),
    json.dumps({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "no-at-sign"}]}}),
    json.dumps({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": 42}]}}),
    json.dumps({"eventType": "Complaint", "complaint": {"complainedRecipients": ["a@b.c"]}}),
    json.dumps({"notificationType": "?", "bounce": {}, "complaint": {}}),
    json.dumps({"eventType": ["Bounce"]}),
])
def test_what_is_not_ses_feedback_is_malformed(message: str) -> None:
    with pytest.raises(MalformedFeedback):
        parse(message)


def test_none_and_bytes() -> None:
    with pytest.raises(MalformedFeedback):
        parse(None)  # type: ignore[arg-type]  # an SNS record without a Message
    assert parse(json.dumps(MOTO_COMPLAINT).encode()).kind == "complaint"
