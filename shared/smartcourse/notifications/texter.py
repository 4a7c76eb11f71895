"""Sending one text message through Amazon SNS `Publish(PhoneNumber=...)` (adapter), as a
transactional SMS (SNS delivers those first and to numbers that opted out of promotions).

Errors are classified by SNS's error code, never by message text: throttling and service errors
are transient (the text is retried later); anything else SNS refuses (an invalid or opted-out
number, the account's SMS spending limit) is permanent for that text."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from smartcourse.notifications.domain import OutgoingSms, SendFailed

TRANSIENT_CODES = frozenset({"Throttling", "Throttled", "ThrottlingException", "ThrottledException",
                             "TooManyRequestsException",
                             "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout",
                             "KMSThrottling"})


class SnsTexter:
    """``sender_id``: the alphanumeric sender shown where the destination country supports one
    (None: the number SNS chooses)."""

    def __init__(self, sns: Any, sender_id: str | None = None) -> None:
        self.sns = sns
        self.sender_id = sender_id

    def send(self, sms: OutgoingSms) -> str:
        """SNS's message id; SendFailed (transient or not) when it was not accepted."""
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            out = self.sns.publish(PhoneNumber=sms.to, Message=sms.body, MessageAttributes=attributes)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise SendFailed(f"SNS {code}: {exc}"[:500], transient=code in TRANSIENT_CODES or status >= 500) from exc
        except BotoCoreError as exc:  # connection, timeout: SNS unreachable
            raise SendFailed(f"SNS unreachable: {exc}"[:500], transient=True) from exc
        return str(out["MessageId"])
