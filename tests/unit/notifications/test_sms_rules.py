"""Text messages (plain Python, notifications.domain): which types may be texted, the text of a
notification (short, GSM characters, with its link) and of a verification code."""

from __future__ import annotations

import uuid

import pytest

from smartcourse.errors import RuleViolated
from smartcourse.notifications import domain

USER, CERT, COURSE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
VERIFY = "https://api.example.com/certificates/verify/K7QX-4MPA-93TZ"


def test_the_catalogue_says_which_types_may_be_texted_off_by_default_never_locked() -> None:
    assert domain.SMS_TYPES == ("enrollment_confirmed", "certificate_issued", "certificate_revoked")
    for name in domain.SMS_TYPES:
        kind = domain.CATALOGUE[name]
        assert kind.defaults["sms"] == "off" and "sms" not in kind.locked
    assert domain.SMS_CADENCES == ("immediately", "off")


def test_turning_sms_on_needs_a_verified_number_and_is_immediate_or_off() -> None:
    on = [("certificate_revoked", {"sms": "immediately"})]
    assert domain.check_changes(on, phone_verified=True) == [("certificate_revoked", "sms", "immediately")]
    with pytest.raises(RuleViolated) as err:
        domain.check_changes(on, phone_verified=False)
    assert err.value.details[0].field == "types.0.channels.sms.cadence"
    assert "verified phone number" in err.value.details[0].problem
    # Turning it off never needs a number
    assert domain.check_changes([("certificate_revoked", {"sms": "off"})]) == [("certificate_revoked", "sms", "off")]
    with pytest.raises(RuleViolated) as err:
        domain.check_changes([("certificate_issued", {"sms": "daily"})], phone_verified=True)
    assert "immediately or not at all" in err.value.details[0].problem


def test_a_notification_is_one_gsm_text_with_its_link() -> None:
    issued = domain.certificate_issued(USER, CERT, "Databases \u201cadvanced\u201d \u2014 part 2", VERIFY)
    text = domain.render_sms(issued)
    assert text == f'SmartCourse: Your certificate for Databases "advanced" - part 2 is ready. {VERIFY}'
    assert len(text) <= domain.SMS_LIMIT and domain.is_gsm(text)
    revoked = domain.certificate_revoked(USER, CERT, "SQL", "issued in error")
    assert domain.render_sms(revoked, "https://app.example.com") == \
        "SmartCourse: Your certificate for SQL was revoked. Reason: issued in error " \
        "https://app.example.com/#/certificates"
    # Without the web app's URL an app route is left out (a text cannot open "#/...")
    assert domain.render_sms(revoked) == "SmartCourse: Your certificate for SQL was revoked. Reason: issued in error"


def test_a_long_title_is_shortened_never_the_link() -> None:
    m = domain.enrollment_confirmed(USER, uuid.uuid4(), COURSE, "Advanced " * 40)
    text = domain.render_sms(m, "https://app.example.com")
    assert len(text) == domain.SMS_LIMIT and text.endswith(f"https://app.example.com/#/courses/{COURSE}")
    assert "... https://" in text
    body_dropped = domain.certificate_revoked(USER, CERT, "SQL", "x" * 200)
    assert domain.render_sms(body_dropped) == "SmartCourse: Your certificate for SQL was revoked."


def test_gsm_characters() -> None:
    assert domain.is_gsm("Café à Zürich: 10 € ") is False  # € is an extension character (counts twice)
    assert domain.is_gsm("Café à Zürich: 10 $")
    assert not domain.is_gsm("\u65e5\u672c\u8a9e")


def test_the_code_text_names_the_code_first_and_its_lifetime() -> None:
    text = domain.verification_sms("042917", 10)
    assert text.startswith("042917 ") and "10 minutes" in text and len(text) <= domain.SMS_LIMIT
    assert domain.is_gsm(text)


class _Sns:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, object]] = []

    def publish(self, **kwargs: object) -> dict[str, str]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"MessageId": "m-1"}


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "Publish")


def test_the_texter_publishes_a_transactional_sms_and_classifies_failures_by_code() -> None:
    from botocore.exceptions import EndpointConnectionError

    from smartcourse.notifications.texter import SnsTexter

    sns = _Sns()
    assert SnsTexter(sns, "SmartCourse").send(domain.OutgoingSms("+447700900123", "hi")) == "m-1"
    [call] = sns.calls
    assert call["PhoneNumber"] == "+447700900123" and call["Message"] == "hi"
    attributes = call["MessageAttributes"]
    assert attributes == {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                          "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "SmartCourse"}}
    for error, transient in ((_client_error("Throttling", 400), True), (_client_error("InternalError", 500), True),
                             (_client_error("InvalidParameter", 400), False),
                             (_client_error("AuthorizationError", 403), False),
                             (EndpointConnectionError(endpoint_url="https://sns"), True)):
        with pytest.raises(domain.SendFailed) as failed:
            SnsTexter(_Sns(error)).send(domain.OutgoingSms("+447700900123", "hi"))
        assert failed.value.transient is transient, error
