"""SES feedback (bounces and complaints) -> the addresses nothing may be sent to again. Plain
Python, no AWS: the function hands it the `Message` string of each SNS notification.

Two shapes reach the topic, and both are read:
- event publishing (the configuration set's event destination, what AWS sends us): `eventType`
  "Bounce" / "Complaint" with a `bounce` / `complaint` object;
- identity notifications (SES v1 feedback topics, what moto sends locally): the same objects under
  `notificationType`. moto's sample says "Bounce, Complaint, or Delivery." there, so when the
  declared type is neither Bounce nor Complaint the `bounce` / `complaint` key decides.

What suppresses:
- a bounce only when its `bounceType` is "Permanent" (a hard bounce), and then only the recipients
  that failed permanently: `action` "failed" or a 5.x.x `status`. A recipient that is "delayed" or
  has a 4.x.x status is not. A recipient with neither field (SES attaches no delivery status when
  it did not try, e.g. subtypes "Suppressed" / "OnAccountSuppressionList") is decided by the
  permanent bounce type: SES will not deliver to it either.
- a complaint suppresses every complained recipient.
Other event types (Delivery, Send, Open, DeliveryDelay, SES's subscription confirmation, ...) are
valid and suppress nothing. Anything that is not an SES feedback message is `MalformedFeedback`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Literal

Reason = Literal["bounce", "complaint"]
KINDS: dict[str, Reason] = {"Bounce": "bounce", "Complaint": "complaint"}
_PERMANENT_STATUS = re.compile(r"^5\.\d{1,3}\.\d{1,3}$")
_TRANSIENT_STATUS = re.compile(r"^[24]\.\d{1,3}\.\d{1,3}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
MAX_ADDRESS = 254  # RFC 5321 path limit


class MalformedFeedback(ValueError):
    """Not an SES feedback message (or a bounce/complaint without its recipients)."""


@dataclass(frozen=True)
class Suppression:
    address: str  # lower-cased
    reason: Reason


@dataclass(frozen=True)
class Feedback:
    """What one message says: its kind ("bounce", "complaint", or the other event type it names),
    the addresses to suppress, and the recipients it names but does not suppress (with why)."""

    kind: str
    suppress: tuple[Suppression, ...] = ()
    kept: tuple[tuple[str, str], ...] = field(default=())  # (address, why not suppressed)
    detail: str = ""  # bounce type/subtype or complaint feedback type, for the log


def _address(raw: Any) -> str:
    if not isinstance(raw, str):
        raise MalformedFeedback(f"a recipient's emailAddress is {type(raw).__name__}, not text")
    address = parseaddr(raw)[1].strip().lower()
    if not _ADDRESS.match(address) or len(address) > MAX_ADDRESS:
        raise MalformedFeedback(f"a recipient's emailAddress is not an address: {raw[:80]!r}")
    return address


def _recipients(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    recipients = body.get(key)
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, Mapping) for r in recipients):
        raise MalformedFeedback(f"{key} is missing or not a list of recipients")
    return recipients


def _failed_permanently(recipient: Mapping[str, Any]) -> tuple[bool, str]:
    action = str(recipient.get("action") or "").strip().lower()
    status = str(recipient.get("status") or "").strip()
    if action == "failed" or _PERMANENT_STATUS.match(status):
        return True, ""
    if not action and not status:
        return True, ""  # no delivery status attached: the permanent bounce type decides
    if action and action != "failed":
        return False, f"action {action!r}"
    return False, f"status {status!r}" if _TRANSIENT_STATUS.match(status) else f"unrecognised status {status!r}"


def _bounce(body: Mapping[str, Any]) -> Feedback:
    bounce_type = body.get("bounceType")
    if not isinstance(bounce_type, str) or not bounce_type:
        raise MalformedFeedback("bounce.bounceType is missing")
    detail = f"{bounce_type}/{body.get('bounceSubType') or '-'}"
    recipients = _recipients(body, "bouncedRecipients")
    addresses = [(_address(r.get("emailAddress")), r) for r in recipients]
    if bounce_type != "Permanent":  # Transient, Undetermined: SES may still deliver later
        return Feedback("bounce", (), tuple((a, f"{bounce_type} bounce") for a, _ in addresses), detail)
    suppress, kept = [], []
    for address, r in addresses:
        permanent, why = _failed_permanently(r)
        if permanent:
            suppress.append(Suppression(address, "bounce"))
        else:
            kept.append((address, why))
    return Feedback("bounce", _unique(suppress), tuple(kept), detail)


def _complaint(body: Mapping[str, Any]) -> Feedback:
    recipients = _recipients(body, "complainedRecipients")
    suppress = [Suppression(_address(r.get("emailAddress")), "complaint") for r in recipients]
    return Feedback("complaint", _unique(suppress), (), str(body.get("complaintFeedbackType") or "-"))


def _unique(items: list[Suppression]) -> tuple[Suppression, ...]:
    seen: dict[str, Suppression] = {}
    for s in items:
        seen.setdefault(s.address, s)
    return tuple(seen.values())


def parse(message: str | bytes | Mapping[str, Any]) -> Feedback:
    """One SNS message's SES feedback. Raises MalformedFeedback when it is not one."""
    if isinstance(message, str | bytes):
        try:
            data = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedFeedback(f"the message is not JSON: {exc}") from None
    else:
        data = message
    if not isinstance(data, Mapping):
        raise MalformedFeedback(f"the message is {type(data).__name__}, not a JSON object")
    declared = data.get("eventType") or data.get("notificationType")
    if declared is not None and not isinstance(declared, str):
        raise MalformedFeedback("eventType / notificationType is not text")
    kind = KINDS.get(declared or "")
    if kind is None:
        keys = [k for k in ("bounce", "complaint") if isinstance(data.get(k), Mapping)]
        if len(keys) == 1:
            kind = KINDS[keys[0].title()]  # moto's sample: a placeholder notificationType
        elif keys:
            raise MalformedFeedback("the message has both a bounce and a complaint")
        elif declared:
            return Feedback(declared)  # Delivery, Send, Open, a subscription confirmation: nothing to do
        else:
            raise MalformedFeedback("no eventType or notificationType: not an SES feedback message")
    body = data.get(kind)
    if not isinstance(body, Mapping):
        raise MalformedFeedback(f"a {kind} message without its {kind!r} object")
    return _bounce(body) if kind == "bounce" else _complaint(body)
