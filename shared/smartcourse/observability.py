"""The one place that creates Powertools Logger, Tracer and Metrics.

Service name and namespace come from the standard POWERTOOLS_* environment variables that
template.yaml sets per function. Correlation ids: the API takes `X-Correlation-Id` (or the API
Gateway request id), writes it into every outbox event, and consumers bind the event's
correlation id while they handle it, so one id follows a request through every log line.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "correlation_scope", "current_correlation_id", "logger", "metrics", "new_correlation_id",
           "tracer"]

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
