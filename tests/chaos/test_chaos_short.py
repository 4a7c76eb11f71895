"""The short form of `make chaos`, run by `make test`: the real system on a private stack, a
workload of at least 1,000 domain events and 20 uploads, and every fault once (consumer workers
SIGKILLed mid-batch, S3 unreachable, Postgres restarted, the Kafka broker stopped and started).
Same assertions as the full run: nothing lost, no side effect twice, everything recovered with no
manual step. The counts table is printed (pytest -s) and attached to a failure."""

from __future__ import annotations

import pytest

from tests.chaos.run import ChaosOptions, render, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]


def test_under_every_fault_nothing_is_lost_nothing_happens_twice_and_the_system_recovers_by_itself() -> None:
    # Given the private stack and the workload, when every fault is injected while it runs
    result = run(ChaosOptions(events=1_000, uploads=20, courses=6, learner_threads=3, completion_rate=0.3,
                              kafka_down_s=5.0,
                              postgres_down_s=2.0, s3_down_s=10.0, kill_wait_s=90.0, settle_timeout_s=600.0))
    table = render(result)
    print("\n" + table)
    # Then every fault was injected (and landed), and the counts hold
    assert {f.name for f in result.faults if f.landed and not f.name.startswith("control")} == {
        "certificates worker killed mid-batch", "ingest worker killed mid-document", "s3 endpoint unreachable",
        "postgres restarted", "kafka broker stopped and restarted"}, table
    assert result.ok, table
