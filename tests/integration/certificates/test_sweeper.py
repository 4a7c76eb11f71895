"""Reconciliation (CertificatesFunction's Schedule event): a completion whose course.completed never
got through gets its certificate from the sweep, once, however the original event arrives later.

Real Postgres + moto S3 through the handler as EventBridge invokes it. The completions each test
plays with are backdated to 2020 and the grace period reaches back to 2021, so the sweep sees
only them (not the session's other completions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from smartcourse.certificates.domain import certificate_key, code_for_issuance
from smartcourse.container import reset_all
from smartcourse.events import EventEnvelope
from smartcourse.outbox import write_event
from smartcourse.settings import load_settings
from testkit.msk import msk_event
from tests.conftest import load_function_module
from tests.integration.certificates.conftest import (
    Completion,
    certificates,
    outbox,
    seed_completion,
    topic,
)

pytestmark = pytest.mark.integration
SCHEDULED = {"version": "0", "id": "sweep", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-11-26T11:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/CertificatesFunction-Reconcile"],
             "detail": {}}
ISSUED = "smartcourse.certificate.issued.v1"


class Ctx:
    function_name = "CertificatesFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CertificatesFunction"
    aws_request_id = "req-sweep"


@pytest.fixture
def app(in_process_env: dict[str, str], provisioned: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    grace = (datetime.now(UTC) - datetime(2021, 1, 1, tzinfo=UTC)).total_seconds()
    monkeypatch.setenv("SWEEP_GRACE_S", str(grace))
    monkeypatch.setenv("SWEEP_MAX_ATTEMPTS", "2")
    load_settings.cache_clear()
    module = load_function_module("certificates")
    reset_all()
    return module


def lost_completion(db: psycopg.Connection[Any], *, in_outbox: bool = True, **kw: Any) -> tuple[Completion,
                                                                                             EventEnvelope]:
    """A completion from 2020 whose course.completed was written to the outbox (as the API does)
    but dead-lettered on the way to the consumer."""
    done = seed_completion(db, **kw)
    db.execute("UPDATE lms.enrollments SET completed_at = '2020-06-01T10:00:00Z' WHERE id = %s",
               (done.enrollment_id,))
    event = done.event()
    if in_outbox:
        with db.transaction():
            write_event(db, event)
            db.execute("UPDATE lms.outbox SET published_at = now() WHERE id = %s", (event.id,))
    return done, event


def test_a_completion_whose_event_was_lost_gets_one_certificate_and_the_late_event_adds_nothing(
        app: Any, db: psycopg.Connection[Any], s3: Any, bucket: str, in_process_env: dict[str, str]) -> None:
    # Given a completion whose event is in the outbox but never reached the consumer
    done, event = lost_completion(db)
    # When the schedule runs the sweep
    report = app.handler(SCHEDULED, Ctx())
    # Then the enrollment has its certificate, with the code the consumer would have given it
    assert report["issued"] >= 1 and report["outage"] is None, report
    [row] = certificates(db, done.enrollment_id)
    assert row["code"] == code_for_issuance(event.id) and row["s3_key"] == certificate_key(row["code"])
    assert s3.head_object(Bucket=bucket, Key=row["s3_key"])["ContentLength"] > 1000
    assert len(outbox(db, ISSUED, enrollment_id=str(done.enrollment_id))) == 1
    # And the original event replayed late (from the dead-letter topic) has no second effect
    assert app.handler(msk_event([event], topic(in_process_env)), Ctx()) == {"batchItemFailures": []}
    assert [r["id"] for r in certificates(db, done.enrollment_id)] == [row["id"]]
    assert len(outbox(db, ISSUED, enrollment_id=str(done.enrollment_id))) == 1
    # And the next sweep does not look at it again
    again = app.handler(SCHEDULED, Ctx())
    assert str(done.enrollment_id) not in str(again["failed"]) and again["issued"] == 0


def test_the_sweep_after_the_consumer_issued_changes_nothing(
        app: Any, db: psycopg.Connection[Any], in_process_env: dict[str, str]) -> None:
    done, event = lost_completion(db)
    assert app.handler(msk_event([event], topic(in_process_env)), Ctx()) == {"batchItemFailures": []}
    [row] = certificates(db, done.enrollment_id)
    report = app.handler(SCHEDULED, Ctx())
    assert report["issued"] == 0
    assert [r["id"] for r in certificates(db, done.enrollment_id)] == [row["id"]]
    assert len(outbox(db, ISSUED, enrollment_id=str(done.enrollment_id))) == 1


def test_a_completion_whose_event_left_the_outbox_gets_a_certificate_from_a_fresh_event(
        app: Any, db: psycopg.Connection[Any]) -> None:
    done, _ = lost_completion(db, in_outbox=False)
    report = app.handler(SCHEDULED, Ctx())
    assert report["issued"] >= 1
    [row] = certificates(db, done.enrollment_id)
    [issued] = outbox(db, ISSUED, enrollment_id=str(done.enrollment_id))
    assert issued["correlation_id"] == "certificate-sweeper" and issued["payload"]["data"]["code"] == row["code"]


def test_recent_and_unfinished_completions_are_left_alone(app: Any, db: psycopg.Connection[Any]) -> None:
    recent = seed_completion(db)  # completed 2026-11-26: within the grace period of this test
    active = seed_completion(db, completed=False)
    db.execute("UPDATE lms.enrollments SET enrolled_at = '2020-01-01T00:00:00Z' WHERE id = %s",
               (active.enrollment_id,))
    app.handler(SCHEDULED, Ctx())
    assert certificates(db, recent.enrollment_id) == [] and certificates(db, active.enrollment_id) == []


def test_a_completion_that_cannot_be_issued_is_recorded_with_its_reason_and_given_up_after_max_attempts(
        app: Any, db: psycopg.Connection[Any]) -> None:
    # Given a lost completion whose learner name no bundled font can draw, and a good one after it
    bad, _ = lost_completion(db, learner_name="Linear B \U00010000")
    good, _ = lost_completion(db)
    db.execute("UPDATE lms.enrollments SET completed_at = '2020-06-02T10:00:00Z' WHERE id = %s",
               (good.enrollment_id,))
    # When the sweep runs
    first = app.handler(SCHEDULED, Ctx())
    # Then the bad one is recorded with its reason, and does not keep the good one from its certificate
    assert any(str(bad.enrollment_id) in f and "RenderError" in f for f in first["failed"]), first
    assert len(certificates(db, good.enrollment_id)) == 1 and certificates(db, bad.enrollment_id) == []
    ledger = db.execute("SELECT attempts, last_error FROM lms.certificate_sweeps WHERE enrollment_id = %s",
                        (bad.enrollment_id,)).fetchone()
    assert ledger["attempts"] == 1 and ledger["last_error"].startswith("RenderError")
    # And after max attempts (2 here) the sweep stops trying it; the reason stays for an operator
    second = app.handler(SCHEDULED, Ctx())
    assert any(str(bad.enrollment_id) in f for f in second["failed"])
    third = app.handler(SCHEDULED, Ctx())
    assert not any(str(bad.enrollment_id) in f for f in third["failed"])
    assert db.execute("SELECT attempts FROM lms.certificate_sweeps WHERE enrollment_id = %s",
                      (bad.enrollment_id,)).fetchone()["attempts"] == 2
    assert not outbox(db, ISSUED, enrollment_id=str(bad.enrollment_id))


def test_an_s3_outage_stops_the_sweep_without_counting_an_attempt(
        app: Any, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.certificates.domain import StorageError

    done, _ = lost_completion(db)

    def down(key: str, body: bytes, *, metadata: dict[str, str] | None = None) -> None:
        raise StorageError(f"could not store {key}: EndpointConnectionError")

    with monkeypatch.context() as m:
        m.setattr(app.deps().store, "put", down)
        report = app.handler(SCHEDULED, Ctx())
    assert report["outage"].startswith("StorageError") and report["issued"] == 0
    assert certificates(db, done.enrollment_id) == []
    assert db.execute("SELECT 1 FROM lms.certificate_sweeps WHERE enrollment_id = %s",
                      (done.enrollment_id,)).fetchone() is None
    # S3 is back: the next run issues it
    assert app.handler(SCHEDULED, Ctx())["issued"] >= 1
    assert len(certificates(db, done.enrollment_id)) == 1


def test_concurrent_sweep_and_consumer_give_one_certificate(
        app: Any, db: psycopg.Connection[Any], in_process_env: dict[str, str], database_url: str) -> None:
    import threading

    from smartcourse.certificates.reconcile import sweep
    from smartcourse.db import Database

    done, event = lost_completion(db)
    s = load_settings(app.CertificatesSettings)
    own = Database(database_url)  # the sweep on its own connection, as another container
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run_sweep() -> None:
        barrier.wait()
        d = app.deps()
        results.append(sweep(own, renderer=d.renderer, store=d.store, public_base_url=s.public_base_url,
                             consumer_name=s.consumer_name, grace_s=s.sweep_grace_s, batch=s.sweep_batch,
                             max_attempts=s.sweep_max_attempts).as_dict())

    def run_consumer() -> None:
        barrier.wait()
        results.append(app.handler(msk_event([event], topic(in_process_env)), Ctx()))

    threads = [threading.Thread(target=run_sweep), threading.Thread(target=run_consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    own.close()
    assert len(results) == 2 and {"batchItemFailures": []} in results
    [row] = certificates(db, done.enrollment_id)
    assert row["code"] == code_for_issuance(event.id)  # both paths issue with the same event
    assert len(outbox(db, ISSUED, enrollment_id=str(done.enrollment_id))) == 1


def test_the_sweep_stops_short_of_the_invocation_timeout(app: Any, db: psycopg.Connection[Any]) -> None:
    done, _ = lost_completion(db)

    class Short(Ctx):
        def get_remaining_time_in_millis(self) -> int:
            return 10_000  # under the 15 s a render and a put are given

    report = app.handler(SCHEDULED, Short())
    assert report["stopped_early"] and report["looked_at"] == 0
    assert certificates(db, done.enrollment_id) == []
    assert app.handler(SCHEDULED, Ctx())["issued"] >= 1  # the next run (full time) issues it
    assert len(certificates(db, done.enrollment_id)) == 1
