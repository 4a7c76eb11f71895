"""X-Ray subsegments without the SDK: one UDP datagram to the daemon per subsegment, under the
invocation's segment, with annotations; nothing outside Lambda or when not sampled; never raises."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from smartcourse import xray

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    yield sock
    sock.close()


def _received(sock: socket.socket) -> dict[str, Any]:
    header, _, body = sock.recv(65536).decode().partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    doc: dict[str, Any] = json.loads(body)
    return doc


def test_a_subsegment_reaches_the_daemon_with_its_annotations(daemon: socket.socket) -> None:
    with xray.subsegment("certificates course.completed", event_type="course.completed",
                         enrollment_id="e-1", course_id=None, **{"bad key": "x"}) as annotate:
        annotate(status=200)
    doc = _received(daemon)
    assert (doc["trace_id"], doc["parent_id"], doc["type"]) == (ROOT, "53995c3f42cd8ad8", "subsegment")
    assert doc["annotations"] == {"event_type": "course.completed", "enrollment_id": "e-1", "status": 200}
    assert doc["end_time"] >= doc["start_time"] and len(doc["id"]) == 16 and "fault" not in doc


def test_a_failing_block_is_a_fault_and_still_raises(daemon: socket.socket) -> None:
    with pytest.raises(ValueError), xray.subsegment("boom"):
        raise ValueError("x")
    assert _received(daemon)["fault"] is True


@pytest.mark.parametrize("trace", [None, f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0", "garbage"])
def test_nothing_is_sent_outside_lambda_or_when_not_sampled(daemon: socket.socket, trace: str | None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if trace is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID")
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    with xray.subsegment("quiet"):
        pass
    daemon.settimeout(0.3)
    with pytest.raises(TimeoutError):
        daemon.recv(65536)


def test_an_unreachable_daemon_never_fails_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "udp:203.0.113.1:notaport")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    with xray.subsegment("fine") as annotate:
        annotate(ok=True)
