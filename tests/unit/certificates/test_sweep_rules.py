"""The certificates sweeper's rules, with a fake store (the SQL adapter is covered by
tests/integration/certificates/test_sweeper.py): outages end the run without counting an attempt,
a completion's own failure is counted and the run goes on, time left is respected."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from smartcourse.certificates.domain import StorageError
from smartcourse.certificates.reconcile import CertificateSweeper, Issued, PendingCompletion
from smartcourse.errors import DependencyUnavailable


class FakeStore:
    def __init__(self, outcomes: list[Issued | Exception]) -> None:
        self.items = [PendingCompletion(uuid.uuid4(), datetime.now(UTC), 0) for _ in outcomes]
        self.outcomes = dict(zip((i.enrollment_id for i in self.items), outcomes, strict=True))
        self.issued: list[uuid.UUID] = []
        self.failures: dict[uuid.UUID, str] = {}

    def pending(self, *, grace_s: float, max_attempts: int, limit: int) -> list[PendingCompletion]:
        return self.items[:limit]

    def issue(self, enrollment_id: uuid.UUID) -> Issued:
        self.issued.append(enrollment_id)
        outcome = self.outcomes[enrollment_id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def record_failure(self, enrollment_id: uuid.UUID, error: str) -> None:
        self.failures[enrollment_id] = error


def sweeper(store: FakeStore, batch: int = 10) -> CertificateSweeper:
    return CertificateSweeper(store, grace_s=600, batch=batch, max_attempts=3)


def test_each_pending_completion_is_issued_and_counted() -> None:
    store = FakeStore([Issued(True, "c1", True), Issued(False, "c2", True), Issued(True, "c3", False)])
    report = sweeper(store).run()
    assert (report.looked_at, report.issued, report.already_issued, report.from_outbox) == (3, 2, 1, 2)
    assert report.as_dict()["failed"] == [] and report.run.outage is None


def test_a_completion_that_fails_is_counted_as_an_attempt_and_the_sweep_goes_on() -> None:
    store = FakeStore([ValueError("no font draws this name"), Issued(True, "c2", True)])
    report = sweeper(store).run()
    assert store.failures == {store.items[0].enrollment_id: "ValueError: no font draws this name"}
    assert report.issued == 1 and len(report.run.errors) == 1 and report.run.outage is None


def test_an_outage_ends_the_run_without_counting_an_attempt() -> None:
    for outage in (StorageError("bucket unavailable"), DependencyUnavailable("database unavailable")):
        store = FakeStore([outage, Issued(True, "c2", True)])
        report = sweeper(store).run()
        assert store.issued == [store.items[0].enrollment_id]  # the second is left to the next run
        assert store.failures == {} and report.run.outage and report.issued == 0


def test_no_completion_is_taken_when_the_invocation_is_nearly_over() -> None:
    store = FakeStore([Issued(True, "c1", True)])
    report = sweeper(store).run(lambda: 10_000)  # under the 15 s one completion is given
    assert report.run.stopped_early and report.looked_at == 0 and store.issued == []
