"""The one sender of queued messages (notifications.delivery.deliver) with a fake channel and a fake
database: at most once, a check may skip, transient failures come back later, permanent ones fail,
and each channel's counts, metrics and names (emails and texts keep theirs)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartcourse import observability as obs
from smartcourse.notifications import delivery
from smartcourse.notifications.domain import SendFailed

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    attempts: int
    text: str


@dataclass
class Queue:
    """A channel's queue in memory: what was claimed, and every settle in order."""

    due: list[Row]
    stale: int = 0
    settled: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    failures: dict[str, SendFailed] = field(default_factory=dict)

    def check(self, conn: object, row: Row, now: datetime) -> str | delivery.Skip:
        return delivery.Skip("cancelled", "not wanted") if row.text == "skip" else row.text

    def send(self, text: str) -> str:
        if text in self.failures:
            raise self.failures[text]
        self.sent.append(text)
        return f"m-{text}"

    def settle(self, conn: object, id_: uuid.UUID, status: str, /, **kw: Any) -> None:
        text = next(r.text for r in self.due if r.id == id_)
        self.settled.append((text, status, {k: v for k, v in kw.items() if v is not None}))

    def channel(self) -> delivery.Channel[Row, str]:
        return delivery.Channel(
            "note",
            "note_id",
            "note_",
            ("cancelled",),
            {"sent": "SmsSent", "failed": "SmsFailed"},
            lambda conn, older: self.stale,
            lambda conn, now, limit: self.due[:limit],
            self.check,
            self.send,
            self.settle,
        )


class FakeDatabase:
    transactions = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[object]:
        self.transactions += 1
        yield object()


def row(text: str, attempts: int = 1) -> Row:
    return Row(uuid.uuid4(), attempts, text)


def deliver(queue: Queue, **kw: Any) -> dict[str, int]:
    args: dict[str, Any] = {
        "batch": 50,
        "max_attempts": 3,
        "retry_after_s": 60.0,
        "stale_after_s": 900.0,
        "now": NOW,
        **kw,
    }
    return delivery.deliver(FakeDatabase(), queue.channel(), **args)  # type: ignore[arg-type]


def test_sent_skipped_retried_and_failed_are_settled_once_each_and_counted_under_the_channels_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics: list[tuple[str, int]] = []
    monkeypatch.setattr(delivery, "count", lambda name, n=1: metrics.append((name, n)))
    queue = Queue(
        [row("a"), row("skip"), row("busy", attempts=2), row("busy-last", attempts=3), row("refused")],
        stale=2,
        failures={
            "busy": SendFailed("Throttling", transient=True),
            "busy-last": SendFailed("Throttling", transient=True),
            "refused": SendFailed("InvalidParameter", transient=False),
        },
    )
    out = deliver(queue)
    assert out == {"note_sent": 1, "note_failed": 2, "note_retried": 1, "note_cancelled": 1, "note_stale": 2}
    assert queue.sent == ["a"]
    assert queue.settled == [
        ("a", "sent", {"message_id": "m-a"}),
        ("skip", "cancelled", {"error": "not wanted"}),
        ("busy", "pending", {"error": "Throttling", "retry_at": NOW + timedelta(seconds=120)}),  # 60 s x attempt
        ("busy-last", "failed", {"error": "Throttling"}),  # attempts used up
        ("refused", "failed", {"error": "InvalidParameter"}),
    ]
    assert metrics == [("SmsSent", 1), ("SmsFailed", 4)]  # failed counts the stale too


def test_the_batch_bounds_what_is_claimed() -> None:
    queue = Queue([row("a"), row("b"), row("c")])
    assert deliver(queue, batch=2)["note_sent"] == 2 and queue.sent == ["a", "b"]


def test_emails_and_texts_keep_their_counts_metrics_and_log_names() -> None:
    class Adapter:
        def send(self, message: object) -> str:
            raise AssertionError("nothing is sent here")

    email = delivery.email_channel(Adapter())
    sms = delivery.sms_channel(Adapter(), b"k" * 32)
    assert (email.noun, email.id_key, email.prefix) == ("email", "email_id", "")
    assert email.skips == ("suppressed", "cancelled")
    assert (sms.noun, sms.id_key, sms.prefix, sms.skips) == ("text", "sms_id", "sms_", ("cancelled",))
    assert list(email.metrics.values()) == ["EmailsSent", "EmailsFailed", "EmailsRetried", "EmailsSuppressed"]
    assert list(sms.metrics.values()) == ["SmsSent", "SmsFailed", "SmsRetried", "SmsCancelled"]
    assert all(name in obs.METRICS for name in (*email.metrics.values(), *sms.metrics.values()))
