"""`smartcourse.container`: built once on first use, even under concurrent first calls; one
`reset_all()` forgets every container and the settings read so far."""

from __future__ import annotations

import threading
import time

import pytest

from smartcourse.container import Container, container, reset_all
from smartcourse.settings import CommonSettings, load_settings


def test_nothing_is_built_before_the_first_call_and_then_only_once() -> None:
    calls: list[int] = []

    @container
    def deps() -> list[int]:
        """The docstring stays."""
        calls.append(1)
        return calls

    assert isinstance(deps, Container) and not deps.built and calls == []
    assert deps() is deps() and calls == [1] and deps.built
    assert deps.__doc__ == "The docstring stays." and deps.__name__ == "deps"


def test_concurrent_first_calls_build_once() -> None:
    built: list[object] = []

    @container
    def slow() -> object:
        time.sleep(0.05)  # every thread arrives while the first build is running
        built.append(object())
        return built[-1]

    barrier = threading.Barrier(8)
    got: list[object] = []

    def call() -> None:
        barrier.wait()
        got.append(slow())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(g is built[0] for g in got)


def test_a_failed_build_is_retried_on_the_next_call() -> None:
    attempts: list[int] = []

    @container
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("settings missing")
        return "ok"

    with pytest.raises(RuntimeError):
        flaky()
    assert flaky() == "ok" and len(attempts) == 2


def test_reset_all_forgets_every_container_and_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGE", "first")
    reset_all()

    @container
    def stage() -> str:
        return load_settings(CommonSettings).stage

    @container
    def other() -> object:
        return object()

    before = other()
    assert stage() == "first"
    monkeypatch.setenv("STAGE", "second")
    assert stage() == "first"  # built: the environment is not read again
    reset_all()
    assert not stage.built and not other.built
    assert stage() == "second" and other() is not before
    reset_all()
