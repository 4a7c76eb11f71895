"""What every reconciliation sweep shares (plain Python, no I/O of its own).

A sweep runs on a schedule and redoes, through the consumer's own code path, work whose trigger
was lost (a dead-lettered event, an S3 notification on its DLQ). Each sweeper declares its passes
(ai/reconcile.py: deletions, stuck documents, lost uploads, lagging versions; certificates/
reconcile.py: completions without a certificate), reads its candidates through a store (the SQL
adapter, replaceable by a fake in unit tests), and handles each candidate in its own transaction.
`SweepRun` holds the rules they all follow:

- **Time**: a candidate is taken only while more than ``safety_ms`` is left of the invocation
  (the longest one candidate can take: a document's processing, a certificate's render and put);
  the rest waits for the next run (``stopped_early``).
- **Outages** (`consumer.is_transient`: the database, S3, the broker) stop the run: every other
  candidate would fail the same way, and the next run retries them all (``outage``).
- **A candidate's own failure** (anything else) is logged with its stack, recorded in ``errors``,
  and the sweep goes on; the sweeper decides what to keep of it (a certificate's failed attempt
  is counted and retried up to its limit, a restarted document keeps it as its last error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smartcourse.consumer import is_transient
from smartcourse.observability import logger

T = TypeVar("T")


@dataclass
class SweepRun:
    safety_ms: int
    remaining_ms: Callable[[], int] | None = None  # the Lambda context's get_remaining_time_in_millis
    stopped_early: bool = False
    outage: str | None = None
    errors: list[str] = field(default_factory=list)

    def candidates(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, one at a time, while the invocation has time left and no dependency is out."""
        for item in items:
            if self.outage is not None:
                return
            if self.remaining_ms is not None and self.remaining_ms() < self.safety_ms:
                self.stopped_early = True
                return
            yield item

    def listing(self, read: Callable[[], list[T]]) -> list[T]:
        """A pass's candidates (`read()`); none when a dependency is out (recorded)."""
        if self.outage is not None:
            return []
        try:
            return read()
        except Exception as exc:
            if not is_transient(exc):
                raise  # a defect, not a candidate's failure: the invocation fails and says so once
            self.failed("listing candidates", exc)
            return []

    def failed(self, what: str, exc: BaseException) -> bool:
        """Records that handling `what` raised `exc` (call it from the `except` block); True when it
        is an outage, which ends the run."""
        reason = f"{type(exc).__name__}: {exc}"
        if is_transient(exc):
            self.outage = reason
            logger.warning("sweep stopped: dependency unavailable", extra={"item": what, "error": str(exc)})
            return True
        logger.exception("sweep could not handle an item", extra={"item": what})
        self.errors.append(f"{what}: {reason}")
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"errors": list(self.errors), "outage": self.outage, "stopped_early": self.stopped_early}
