"""`SweepRun`: what every reconciliation sweep shares."""

from __future__ import annotations

import pytest

from smartcourse.errors import DependencyUnavailable
from smartcourse.sweeping import SweepRun


def test_candidates_stop_once_a_dependency_is_out() -> None:
    run = SweepRun(safety_ms=1000)
    seen = []
    for n in run.candidates([1, 2, 3]):
        seen.append(n)
        if n == 2:
            try:
                raise DependencyUnavailable("database unavailable")
            except DependencyUnavailable as exc:
                assert run.failed(f"item {n}", exc)
    assert seen == [1, 2] and run.outage == "DependencyUnavailable: database unavailable" and run.errors == []


def test_an_items_own_failure_is_recorded_and_the_run_goes_on() -> None:
    run = SweepRun(safety_ms=1000)
    seen = []
    for n in run.candidates([1, 2]):
        seen.append(n)
        try:
            raise ValueError("bad row")
        except ValueError as exc:
            assert not run.failed(f"item {n}", exc)
    assert seen == [1, 2] and run.errors == ["item 1: ValueError: bad row", "item 2: ValueError: bad row"]


def test_candidates_stop_when_less_than_the_safety_margin_is_left() -> None:
    left = iter([5000, 1500, 900])
    run = SweepRun(safety_ms=1000, remaining_ms=lambda: next(left))
    assert list(run.candidates("abc")) == ["a", "b"] and run.stopped_early


def test_a_listing_during_an_outage_is_empty_and_other_errors_are_raised() -> None:
    run = SweepRun(safety_ms=0)
    assert run.listing(lambda: [1]) == [1]

    def broken() -> list[int]:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run.listing(broken)

    def out() -> list[int]:
        raise DependencyUnavailable("down")

    assert run.listing(out) == [] and run.outage and run.listing(lambda: [1]) == []
