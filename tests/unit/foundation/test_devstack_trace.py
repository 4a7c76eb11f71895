"""`python -m devstack trace`: one request's timeline from the functions' JSON logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.__main__ import main
from devstack.observe import format_timeline, read_lines, timeline


def _line(ts: str, message: str, **keys: object) -> str:
    return json.dumps({"level": keys.pop("level", "INFO"), "location": "x:1", "message": message,
                       "timestamp": f"2026-12-06 10:00:{ts}+0000", "service": "s", **keys}) + "\n"


def _logs(tmp_path: Path) -> Path:
    (tmp_path / "ApiFunction.log").write_text(
        _line("00,100", "request handled", correlation_id="c-1", trace_id="t" * 32, function_request_id="a1")
        + _line("00,050", "request handled", correlation_id="other", function_request_id="a0")
        + "Traceback (most recent call last): not JSON\n")
    (tmp_path / "OutboxRelayFunction.log").write_text(
        _line("01,000", "event published", correlation_id="c-1", event_type="course.completed",
              function_request_id="r1")
        + _line("01,400", "relay run finished", function_request_id="r1"))
    (tmp_path / "CertificatesFunction.log").write_text(
        _line("01,900", "certificate issued", correlation_id="c-1", event_type="course.completed",
              function_request_id="k1")
        + _line("02,150", "record processed", correlation_id="c-1", event_type="course.completed",
                function_request_id="k1", trace_id="t" * 32)
        + _line("03,000", "record failed", correlation_id="c-1", level="ERROR", function_request_id="k2"))
    return tmp_path


def test_the_timeline_follows_one_id_across_functions_in_time_order(tmp_path: Path) -> None:
    steps = timeline(read_lines(_logs(tmp_path)), "c-1")
    assert [(s.function, s.invocation) for s in steps] == [
        ("ApiFunction", "a1"), ("OutboxRelayFunction", "r1"), ("CertificatesFunction", "k1"),
        ("CertificatesFunction", "k2")]
    cert = steps[2]
    assert (cert.end - cert.start).total_seconds() == 0.25 and cert.event_types == ["course.completed"]
    assert steps[3].error and not cert.error
    text = format_timeline(steps)
    assert text.splitlines()[1].split()[:3] == ["0", "0", "ok"]  # offset, duration, outcome of the first
    assert "1800" in text.splitlines()[3]  # the certificate started 1.8 s after the request
    # a trace id finds the lines that carry it
    assert [s.function for s in timeline(read_lines(tmp_path), "t" * 32)] == ["ApiFunction", "CertificatesFunction"]


def test_the_command_prints_the_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "c-1", "--log-dir", str(_logs(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "OutboxRelayFunction" in out and "course.completed" in out
    assert main(["trace", "nobody", "--log-dir", str(tmp_path)]) == 0
    assert "no log line carries that id" in capsys.readouterr().out
