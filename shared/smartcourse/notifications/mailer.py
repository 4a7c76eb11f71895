"""Sending one email through Amazon SES v2 `SendEmail` (adapter). Raw MIME, so that the
List-Unsubscribe headers of RFC 8058 travel with it: text and HTML alternatives, UTF-8.

Errors are classified by SES's error code, never by message text: throttling and service errors
are transient (the email is retried later); anything else SES refuses (an unverified sender, a
rejected message, a suspended account) is permanent for that email."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from smartcourse.notifications.domain import Outgoing, SendFailed

TRANSIENT_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException",
                             "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
                             "InternalServiceErrorException", "RequestTimeout"})


def mime(sender: str, mail: Outgoing) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or None)
    if mail.unsubscribe_url:  # an account's own security mail (reset, verification) has none
        msg["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg.as_bytes()


class SesMailer:
    """``configuration_set``: the SES configuration set each email is sent with (its event
    destination reports bounces and complaints, docs/notifications.md); None sends without one."""

    def __init__(self, ses: Any, sender: str, configuration_set: str | None = None) -> None:
        self.ses = ses
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, mail: Outgoing) -> str:
        """SES's message id; SendFailed (transient or not) when it was not accepted."""
        extra = {"ConfigurationSetName": self.configuration_set} if self.configuration_set else {}
        try:
            out = self.ses.send_email(FromEmailAddress=self.sender, Destination={"ToAddresses": [mail.to]},
                                      Content={"Raw": {"Data": mime(self.sender, mail)}}, **extra)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            raise SendFailed(f"SES {code}: {exc}"[:500], transient=code in TRANSIENT_CODES or status >= 500) from exc
        except BotoCoreError as exc:  # connection, timeout: SES unreachable
            raise SendFailed(f"SES unreachable: {exc}"[:500], transient=True) from exc
        return str(out["MessageId"])
