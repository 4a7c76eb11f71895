"""The one polling helper: asynchronous work (an upload indexed, an event consumed, a log line
written) is awaited by asking until the answer is truthy, never by sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T], *, timeout: float = 60.0, every: float = 0.25) -> T:
    """`probe()`'s first truthy value, asked every `every` seconds for at most `timeout` seconds;
    then an AssertionError naming `what` (and the last value seen)."""
    end = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})"[:2000])
        time.sleep(every)
