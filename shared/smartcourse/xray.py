"""X-Ray subsegments with annotations, without the X-Ray SDK.

Powertools' Tracer imports the X-Ray SDK and patches botocore: 0.42-0.48 s of every cold start on
the 2-core dev machine (measured), about as much as a whole cold start. Lambda's active tracing
(`Tracing: Active`) already records each invocation's segment; what the SDK would add is
subsegments with annotations (searchable in X-Ray: `annotation.event_type = "course.completed"`).
This module sends exactly that, as the SDK does: one UDP datagram per subsegment to the X-Ray
daemon (`AWS_XRAY_DAEMON_ADDRESS`), under the invocation's segment (`_X_AMZN_TRACE_ID`), only when
the invocation is sampled. Outside Lambda (no trace header) nothing is sent. It never raises: a
lost datagram loses one subsegment, never a request.

    with subsegment("record", event_type="course.completed", enrollment_id="...") as annotate:
        ...   # annotate(course_id=...) adds annotations found on the way
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["HEADER", "parse_trace_header", "subsegment"]

HEADER = '{"format": "json", "version": 1}\n'
_ANNOTATION_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def parse_trace_header(value: str | None) -> dict[str, str]:
    """`Root=1-...;Parent=...;Sampled=1` as a dict (empty when absent or malformed)."""
    out: dict[str, str] = {}
    for part in (value or "").split(";"):
        key, sep, val = part.strip().partition("=")
        if sep and key and val:
            out[key] = val
    return out


def _daemon() -> tuple[str, int] | None:
    raw = os.environ.get("AWS_XRAY_DAEMON_ADDRESS", "")
    address = raw.split()[-1] if raw else ""  # "udp:host:port tcp:host:port" or "host:port"
    host, _, port = address.removeprefix("udp:").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _clean(annotations: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """X-Ray annotation keys: letters, digits and underscores; values: string, number or boolean."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in annotations.items():
        if value is None or not key or not set(key) <= _ANNOTATION_KEY_CHARS:
            continue
        out[key] = value if isinstance(value, bool | int | float) else str(value)[:500]
    return out


@contextlib.contextmanager
def subsegment(name: str, **annotations: Any) -> Iterator[Callable[..., None]]:
    """Time the block as an X-Ray subsegment of the invocation's segment, with `annotations`
    (and any added through the yielded function); marked as a fault if the block raises."""
    trace = parse_trace_header(os.environ.get("_X_AMZN_TRACE_ID"))
    extra: dict[str, Any] = dict(annotations)
    start = time.time()
    fault = False
    try:
        yield extra.update
    except BaseException:
        fault = True
        raise
    finally:
        daemon = _daemon()
        if daemon is not None and trace.get("Root") and trace.get("Parent") and trace.get("Sampled") == "1":
            document = {"name": name[:200], "id": secrets.token_hex(8), "trace_id": trace["Root"],
                        "parent_id": trace["Parent"], "type": "subsegment", "start_time": start,
                        "end_time": time.time(), "annotations": _clean(extra)}
            if fault:
                document["fault"] = True
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto((HEADER + json.dumps(document, separators=(",", ":"))).encode(), daemon)
            except OSError:
                pass  # tracing is best effort: never fail the work it describes
