"""Services for benchmarks: reuse a running stack (make run / make stack) or start a private one."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.postgres import ensure_database
from devstack.stack import CACHE_DIR, Endpoints, Stack, local_overrides, running_stack
from smartcourse import migrate


@dataclass
class BenchEnv:
    endpoints: Endpoints
    stage: str
    database_url: str
    template: Any
    #: {(function, S3 event name): SQS queue url} when provisioned (for a LocalRuntime's S3 triggers)
    queues: dict[tuple[str, str], str] = field(default_factory=dict)

    def function_env(self) -> dict[str, str]:
        return local_overrides(self.endpoints, self.stage, self.database_url)


@contextlib.contextmanager
def bench_env(stage: str = "bench", *, provision: bool = True) -> Iterator[BenchEnv]:
    """A migrated database `sc_<stage>` and, if asked, the stage's buckets, queues and topics."""
    from devstack import template as tpl
    from devstack.provision import ensure_buckets_and_notifications, ensure_topics, topic_specs
    from devstack.stack import aws_clients

    ep = running_stack()
    stack = None
    tmp = None
    if ep is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-stack-")
        stack = Stack(Path(tmp.name), CACHE_DIR, ephemeral=True)
        ep = stack.start()
    try:
        name = f"sc_{stage}"
        ensure_database(ep.admin_database_url, name)
        url = ep.database_url(name)
        migrate.apply(url)
        template = tpl.load(parameter_overrides={"Stage": stage})
        queues: dict[tuple[str, str], str] = {}
        if provision:
            s3, sqs = aws_clients(ep.aws_endpoint_url)
            queues = ensure_buckets_and_notifications(template, stage, s3, sqs)
            ensure_topics(ep.kafka_bootstrap_servers, topic_specs(f"smartcourse.{stage}"))
        yield BenchEnv(ep, stage, url, template, queues)
    finally:
        if stack is not None:
            stack.stop()
        if tmp is not None:
            tmp.cleanup()
