"""`consumer.wait_out_outages`: the one retry loop the consumers and IngestFunction's S3 path use
while a dependency is out."""

from __future__ import annotations

import time

import pytest

from smartcourse.consumer import MAX_OUTAGE_BACKOFF_S, TRANSIENT_SAFETY_MS, wait_out_outages
from smartcourse.errors import DependencyUnavailable


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_an_outage_is_waited_out_with_doubling_backoff_up_to_the_cap() -> None:
    call, pauses, retried = Flaky(6, DependencyUnavailable("database unavailable")), [], []
    got = wait_out_outages(call, until=lambda: time.monotonic() + 3600, remaining_ms=lambda: 900_000,
                           backoff_s=0.5, on_retry=lambda e, d: retried.append(type(e).__name__),
                           sleep=pauses.append)
    assert got == "done" and call.calls == 7
    assert pauses == [0.5, 1.0, 2.0, 4.0, MAX_OUTAGE_BACKOFF_S, MAX_OUTAGE_BACKOFF_S]
    assert retried == ["DependencyUnavailable"] * 6


def test_other_errors_are_raised_at_once() -> None:
    call, pauses = Flaky(1, ValueError("bad record")), []
    with pytest.raises(ValueError):
        wait_out_outages(call, until=lambda: time.monotonic() + 3600, remaining_ms=None, backoff_s=0.5,
                         on_retry=lambda e, d: None, sleep=pauses.append)
    assert call.calls == 1 and pauses == []


def test_the_wait_stops_at_its_budget_and_short_of_the_deadline() -> None:
    # the budget: the next try would start after `until`
    call, pauses = Flaky(10, DependencyUnavailable("S3 unavailable")), []
    end = time.monotonic() + 1.5
    with pytest.raises(DependencyUnavailable):
        wait_out_outages(call, until=lambda: end, remaining_ms=None, backoff_s=0.5,
                         on_retry=lambda e, d: None, sleep=pauses.append)
    assert pauses == [0.5, 1.0] and call.calls == 3  # a 2 s pause would end after the budget
    # the deadline: never closer than TRANSIENT_SAFETY_MS to the end of the invocation
    call = Flaky(10, DependencyUnavailable("S3 unavailable"))
    with pytest.raises(DependencyUnavailable):
        wait_out_outages(call, until=lambda: time.monotonic() + 3600, remaining_ms=lambda: TRANSIENT_SAFETY_MS + 400,
                         backoff_s=0.5, on_retry=lambda e, d: None, sleep=lambda s: None)
    assert call.calls == 1


def test_a_narrower_rule_decides_what_is_an_outage() -> None:
    class BucketDown(Exception):
        transient = True

    call = Flaky(1, BucketDown())
    with pytest.raises(BucketDown):  # transient for the consumers, not for the S3 path's rule
        wait_out_outages(call, until=lambda: time.monotonic() + 3600, remaining_ms=None, backoff_s=0.5,
                         on_retry=lambda e, d: None, sleep=lambda s: None,
                         retryable=lambda e: isinstance(e, DependencyUnavailable))
    call = Flaky(1, BucketDown())
    assert wait_out_outages(call, until=lambda: time.monotonic() + 3600, remaining_ms=None, backoff_s=0.5,
                            on_retry=lambda e, d: None, sleep=lambda s: None) == "done"
