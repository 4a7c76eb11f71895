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

__all__ = ["MetricUnit", "correlation_scope", "current_correlation_id", "logger", "metrics", "new_correlation_id"]

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
