"""Local operations tools over what `make run` keeps (issue 15):

    python -m devstack trace <correlation_id | trace_id>   one request's timeline across functions
    python -m devstack status                              outbox backlog, consumer lag, dead letters, queues

`trace` reads the functions' structured logs that the local runtime writes to `.data/logs/<Function>.log`
(Powertools JSON lines, one file per function) and prints every invocation that logged the id, in
time order: the function, its start offset from the first line, its duration (first to last line of
that invocation), its outcome (error if it logged an ERROR) and the event types it handled. A
progress update that completes a course reads: ApiFunction (PUT .../progress) -> OutboxRelayFunction
(event published) -> CertificatesFunction (record processed, certificate issued).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Step", "format_timeline", "read_lines", "timeline"]


@dataclass
class Step:
    function: str
    invocation: str
    start: datetime
    end: datetime
    error: bool = False
    event_types: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _when(value: str) -> datetime:
    # Powertools: "2026-12-06 02:49:51,190+0000"
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S,%f%z")


def read_lines(log_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(function, parsed JSON line) for every JSON log line under `log_dir`; other lines (a
    traceback printed by the runtime, a library's plain text) are passed over."""
    for path in sorted(log_dir.glob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                if not raw.startswith("{"):
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(line, dict) and "timestamp" in line and "message" in line:
                    yield path.stem, line


def timeline(lines: Iterable[tuple[str, dict[str, Any]]], ident: str) -> list[Step]:
    """The invocations that logged `ident` as their correlation id or trace id, in time order."""
    steps: dict[tuple[str, str], Step] = {}
    for function, line in lines:
        if ident not in (line.get("correlation_id"), line.get("trace_id")):
            continue
        when = _when(str(line["timestamp"]))
        key = (function, str(line.get("function_request_id") or line.get("cold_start") or "?"))
        step = steps.get(key)
        if step is None:
            step = steps[key] = Step(function, key[1], when, when)
        step.start, step.end = min(step.start, when), max(step.end, when)
        step.error = step.error or line.get("level") == "ERROR"
        event_type = line.get("event_type")
        if event_type and event_type not in step.event_types:
            step.event_types.append(str(event_type))
        if line["message"] not in step.messages:
            step.messages.append(str(line["message"]))
    return sorted(steps.values(), key=lambda s: (s.start, s.function))


def format_timeline(steps: list[Step]) -> str:
    if not steps:
        return "no log line carries that id (is `make run` running, and is the id a correlation or trace id?)"
    t0 = steps[0].start
    rows = ["offset ms  duration ms  outcome  function              events / what it logged"]
    for s in steps:
        offset = (s.start - t0).total_seconds() * 1000
        duration = (s.end - s.start).total_seconds() * 1000
        what = ", ".join(s.event_types) or "; ".join(s.messages[:3])
        rows.append(f"{offset:9.0f}  {duration:11.0f}  {'error' if s.error else 'ok':7}  {s.function:20}  {what}")
    return "\n".join(rows)


# ------------------------------------------------------------------ status


def consumer_lag(bootstrap: str, groups: dict[str, tuple[str, ...]]) -> dict[str, dict[str, int]]:
    """For each consumer group (an MSK mapping of the template) and topic: records not yet
    consumed (end offset - the group's committed offset, summed over partitions; a partition the
    group never committed counts from its start)."""
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="devstack-status")
    probe = KafkaConsumer(bootstrap_servers=bootstrap, client_id="devstack-status")
    try:
        out: dict[str, dict[str, int]] = {}
        for group, topics in groups.items():
            committed = admin.list_group_offsets({group: None}).get(group, {})
            lag: dict[str, int] = {}
            for topic in topics:
                offsets = _offsets(probe, topic)
                if offsets:
                    lag[topic] = sum(end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0
                                            else start) for tp, (start, end) in offsets.items())
            out[group] = lag
        return out
    finally:
        probe.close()
        admin.close()


def topic_size(bootstrap: str, topic: str) -> int:
    """Records on `topic` (end - beginning offsets, summed over partitions)."""
    from kafka import KafkaConsumer

    probe = KafkaConsumer(bootstrap_servers=bootstrap, client_id="devstack-status")
    try:
        return sum(end - start for start, end in _offsets(probe, topic).values())
    finally:
        probe.close()


def _offsets(probe: Any, topic: str) -> dict[Any, tuple[int, int]]:
    """{partition: (first offset, next offset)} of `topic` ({} when the topic does not exist)."""
    from kafka import TopicPartition

    parts = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
    if not parts:
        return {}
    starts, ends = probe.beginning_offsets(parts), probe.end_offsets(parts)
    return {tp: (starts[tp], ends[tp]) for tp in parts}


def queue_depths(sqs: Any, urls: Iterable[str]) -> dict[str, int]:
    """Visible + in-flight messages of each SQS queue (the S3 notification queues and their DLQs)."""
    out = {}
    for url in urls:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        out[url.rsplit("/", 1)[-1]] = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"])
    return out
