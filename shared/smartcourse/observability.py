"""The one place that creates Powertools Logger, Tracer and Metrics.

Service name and namespace come from the standard POWERTOOLS_* environment variables that
template.yaml sets per function. Correlation ids: the API takes `X-Correlation-Id` (or the API
Gateway request id), writes it into every outbox event, and consumers bind the event's
correlation id while they handle it, so one id follows a request through every log line.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import uuid
from collections.abc import Iterator

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# Tracing: W3C trace context in logs and events (below) and X-Ray subsegments sent without the SDK
# (`smartcourse.xray`); Powertools' Tracer is not used: it imports the X-Ray SDK and botocore, about
# a third of a second of every cold start.


__all__ = ["METRICS", "MetricUnit", "child_traceparent", "correlation_scope", "count", "current_correlation_id",
           "current_traceparent", "event_metric", "logger", "measure", "metrics", "new_correlation_id",
           "parse_traceparent"]

# --- metrics: one naming scheme ----------------------------------------------------------------
# Namespace POWERTOOLS_METRICS_NAMESPACE (SmartCourse), Embedded Metric Format through Powertools,
# dimensions `service` (POWERTOOLS_SERVICE_NAME: the function) and `stage` (STAGE). Names are
# PascalCase, area first; every name is declared here with its unit, and template.yaml's alarms and
# dashboard use these names (tests/unit/foundation/test_template_operations.py checks both ways).
_C, _MS, _S = MetricUnit.Count, MetricUnit.Milliseconds, MetricUnit.Seconds
METRICS: dict[str, MetricUnit] = {
    # outbox relay (technical) -- business counts are Event<Type>, one per published domain event
    "RelayPublished": _C, "RelayParked": _C, "RelayPublishFailures": _C, "RelayBatchSize": _C,
    "OutboxOldestUnpublishedAge": _S, "OutboxParkedRows": _C,
    # every Kafka consumer (the `service` dimension says which)
    "ConsumerProcessed": _C, "ConsumerDuplicates": _C, "ConsumerFailed": _C, "ConsumerDeadLettered": _C,
    "ConsumerTransientRetries": _C,
    # ingestion: one per S3 object handled, by outcome
    "DocumentsIndexed": _C, "DocumentsReused": _C, "DocumentsFailed": _C, "DocumentsDuplicates": _C,
    "DocumentsSkipped": _C, "DocumentsRemoved": _C,
    # reconciliation sweeps (IngestFunction, CertificatesFunction)
    "SweepAssetsIngested": _C, "SweepAssetsWithoutObject": _C, "SweepStuckRestarted": _C, "SweepStuckFailed": _C,
    "SweepCoursesMadeLive": _C, "SweepDeletionsApplied": _C, "SweepErrors": _C,
    "SweepCertificatesIssued": _C, "SweepCertificatesFailed": _C, "SweepOutage": _C,
    # certificates
    "CertificatesIssued": _C,
    # notifications (in-app rows added or changed by an event)
    "NotificationsCreated": _C, "EmailsSent": _C, "EmailsFailed": _C, "EmailsRetried": _C, "EmailsSuppressed": _C,
    "DigestsQueued": _C,
    # text messages (SNS Publish to phone numbers): notifications and phone verification codes
    "SmsSent": _C, "SmsFailed": _C, "SmsRetried": _C, "SmsCancelled": _C,
    # SES feedback (bounces, complaints) through SNS: addresses newly suppressed, messages not understood
    "EmailFeedbackSuppressed": _C, "EmailFeedbackMalformed": _C,
    # accounts (the API): failed sign-ins, attempts refused by the sign-in limits, spent refresh
    # tokens presented again (the session is ended; RefreshTokenReuse alarm)
    "SignInFailed": _C, "SignInLimited": _C, "RefreshReuse": _C, "AccountsDeleted": _C,
    # phone numbers: codes texted, refused by the hourly limit, numbers verified
    "PhoneCodesRequested": _C, "PhoneCodesLimited": _C, "PhonesVerified": _C,
    # analytics' XapiSync schedule: asked statements made; the LRS push (accepted, already there,
    # parked for good, runs that found or left the endpoint failing, backoff included)
    "XapiAskedRecorded": _C, "XapiPushed": _C, "XapiPushDuplicates": _C, "XapiPushParked": _C,
    "XapiPushFailing": _C,
    # the assistant and its language model
    "AssistantAnswers": _C, "AssistantRefusals": _C, "AssistantAskLatency": _MS,
    "LlmLatency": _MS, "LlmInputTokens": _C, "LlmOutputTokens": _C, "LlmRateLimited": _C, "LlmErrors": _C,
}
_EVENT_METRIC = re.compile(r"^Event[A-Z][A-Za-z0-9]*$")
_stage_set = False


def event_metric(event_type: str) -> str:
    """The business metric of a domain event type: ``enrollment.created`` -> ``EventEnrollmentCreated``."""
    return "Event" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[._-]+", event_type) if part)


def _unit(name: str) -> MetricUnit:
    if name in METRICS:
        return METRICS[name]
    if _EVENT_METRIC.match(name):
        return _C
    raise ValueError(f"metric {name!r} is not declared in smartcourse.observability.METRICS")


def measure(name: str, value: float) -> None:
    """Add one value of a declared metric (unit from METRICS) to this invocation's EMF record."""
    global _stage_set
    unit = _unit(name)
    if not _stage_set:
        metrics.set_default_dimensions(stage=os.environ.get("STAGE", "local"))
        _stage_set = True
    metrics.add_metric(name=name, unit=unit, value=value)


def count(name: str, n: int = 1) -> None:
    """`measure` for a Count metric; nothing is recorded for 0 (an empty series costs nothing)."""
    if n:
        measure(name, n)

_current: list[str] = []
_traces: list[tuple[str | None, dict[str, str]]] = []  # (traceparent, the log keys it bound), innermost last
#: W3C Trace Context: version 00, 32 hex trace id, 16 hex parent (span) id, 2 hex flags.
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def current_correlation_id() -> str | None:
    return _current[-1] if _current else None


def current_traceparent() -> str | None:
    """The trace context of the work in progress (written with every outbox row)."""
    return _traces[-1][0] if _traces else None


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, span id, flags) of a valid W3C traceparent, else None (all-zero ids are invalid)."""
    m = _TRACEPARENT.match((value or "").strip().lower())
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1), m.group(2), m.group(3)


def child_traceparent(parent: str | None) -> str:
    """This function's span: in the parent's trace (a valid `traceparent` received with the request
    or the Kafka record) with a new span id, or the start of a new trace."""
    parsed = parse_traceparent(parent)
    trace_id, flags = (parsed[0], parsed[2]) if parsed else (secrets.token_hex(16), "01")
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


@contextlib.contextmanager
def correlation_scope(correlation_id: str | None, *, traceparent: str | None = None,
                      link: str | None = None) -> Iterator[str]:
    """Bind a correlation id (and, when given, this span's W3C trace context) to every log line and
    outbox event within the block: log keys `correlation_id`, `trace_id`, `span_id`, and
    `linked_span_id` (`link`: the producer's span of a consumed record)."""
    cid = correlation_id or new_correlation_id()
    keys = _trace_keys(traceparent, link)
    _current.append(cid)
    _traces.append((traceparent, keys))
    logger.set_correlation_id(cid)
    logger.append_keys(**keys)
    try:
        yield cid
    finally:
        _current.pop()
        _traces.pop()
        logger.set_correlation_id(_current[-1] if _current else None)
        logger.remove_keys(list(keys))
        if _traces:  # the enclosing scope's keys, as it bound them
            logger.append_keys(**_traces[-1][1])


def _trace_keys(traceparent: str | None, link: str | None) -> dict[str, str]:
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return {}
    keys = {"trace_id": parsed[0], "span_id": parsed[1]}
    linked = parse_traceparent(link)
    if linked is not None:
        keys["linked_span_id"] = linked[1]
    return keys
