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
import uuid
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
_tracer: Any = None


def __getattr__(name: str) -> Any:
    """`tracer` is built on first import of the name: Powertools' Tracer imports the X-Ray SDK
    (and botocore), about a third of a second of every cold start, so functions that do not
    trace do not pay for it. Lambda's active tracing (template `Tracing: Active`) needs no SDK."""
    global _tracer
    if name == "tracer":
        if _tracer is None:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer()
        return _tracer
    raise AttributeError(name)

__all__ = ["METRICS", "MetricUnit", "correlation_scope", "count", "current_correlation_id", "event_metric", "logger",
           "measure", "metrics", "new_correlation_id"]

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


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def current_correlation_id() -> str | None:
    return _current[-1] if _current else None


@contextlib.contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id to every log line (and outbox event) within the block."""
    cid = correlation_id or new_correlation_id()
    _current.append(cid)
    logger.set_correlation_id(cid)
    try:
        yield cid
    finally:
        _current.pop()
        logger.set_correlation_id(_current[-1] if _current else None)
