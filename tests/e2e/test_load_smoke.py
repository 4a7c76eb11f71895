"""A short run of the load bench (bench/bench_load.py, `make load`): a few concurrent learners
through the gateway of a LocalRuntime wired by template.yaml, for about 15 s. Asserts what the long
run asserts, without timing thresholds: zero unexpected answers, every completion the API reported
got its certificate, the outbox drained, the capacity-limited seminar was never oversold.

It gets its own stage and database (not the session's): the drain check counts every completed
enrollment and outbox row of the database, and other e2e modules leave some on purpose (a
dead-lettered completion, for one)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from bench.bench_load import LoadConfig, load, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_stage(stack_endpoints: Any) -> Iterator[tuple[str, str, Any, dict[tuple[str, str], str]]]:
    from devstack import template as tpl
    from devstack.postgres import drop_database, ensure_database
    from devstack.provision import ensure_buckets_and_notifications, ensure_topics, topic_specs
    from devstack.stack import aws_clients
    from smartcourse import migrate

    stage = "tl" + secrets.token_hex(3)
    name = f"sc_{stage}"
    ensure_database(stack_endpoints.admin_database_url, name)
    url = stack_endpoints.database_url(name)
    migrate.apply(url)
    template = tpl.load(parameter_overrides={"Stage": stage})
    s3, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    queues = ensure_buckets_and_notifications(template, stage, s3, sqs)
    ensure_topics(stack_endpoints.kafka_bootstrap_servers, topic_specs(f"smartcourse.{stage}"))
    try:
        yield stage, url, template, queues
    finally:
        drop_database(stack_endpoints.admin_database_url, name)


def test_a_short_load_has_no_errors_and_the_outbox_drains(private_stage: Any, stack_endpoints: Any,
                                                          tmp_path: Any) -> None:
    from devstack.stack import local_overrides

    stage, url, template, queues = private_stage
    cfg = LoadConfig(duration_s=15, clients=3, baseline_s=3, workers=2, drain_timeout_s=180)
    # Given every function of the template behind a gateway, and an instructor's indexed courses
    with running(template, local_overrides(stack_endpoints, stage, url), stage=stage,
                 kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers,
                 aws_endpoint_url=stack_endpoints.aws_endpoint_url, queues=queues, workers=cfg.workers,
                 log_dir=tmp_path / "logs") as base_url:
        # When a few learners register, enrol, ask, progress and complete concurrently
        report = load(base_url, url, cfg)

    # Then nothing answered unexpectedly, and the system caught up once the load stopped
    assert report.problems() == []
    assert report.rec.failures == []
    assert report.seen.learners >= cfg.clients
    assert report.rec.laps["ask"] and report.rec.laps["enrol"] and report.rec.laps["progress"]
    assert report.rec.counts.get("answers with citations", 0) > 0   # the indexed document answered
    d = report.drain
    assert d.drained and d.unpublished == 0 and d.parked == 0
    assert len(report.seen.completions) > 0
    assert d.certificates == d.completed == len(report.seen.completions)
    assert d.seminar_live <= report.catalogue.seminar_capacity
