"""A PRIVATE stack for the chaos run: its own embedded Postgres (data dir), moto and Kafka broker
on free ports, a fault proxy in front of moto, and the local runtime (template.yaml) on top.
It never touches the shared stack (4566/9092/9093/8000, .data/)."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import template as tpl
from devstack.kafka import KafkaBroker
from devstack.moto_server import MotoServer
from devstack.postgres import EmbeddedPostgres, ensure_database
from devstack.provision import ensure_buckets_and_notifications, ensure_topics, topic_specs
from devstack.runtime import LocalRuntime, RuntimeOptions
from devstack.stack import CACHE_DIR, Endpoints, aws_clients, local_overrides
from tests.chaos.proxy import FaultProxy
from tests.conftest import free_ports

APP_DB = "smartcourse"
ACCOUNT = "123456789012"
# The S3 -> SQS queue's visibility timeout: how long before a failed upload notification is
# retried. The template's 305 s (function timeout + 5) is scaled down like the relay's schedule
# (1 min -> 1 s): a retry every 60 s (longer than a batch of 10 notifications takes, so none is
# received again while the batch is still being handled), dead-lettered after 3 receives.
S3_RETRY_VISIBILITY_S = 60


@dataclass
class PrivateStack:
    workdir: Path
    stage: str = field(default_factory=lambda: "chaos" + secrets.token_hex(3))
    moto_port: int = 0
    kafka_port: int = 0
    controller_port: int = 0
    http_port: int = 0
    pg: EmbeddedPostgres | None = None
    moto: MotoServer | None = None
    kafka: KafkaBroker | None = None
    proxy: FaultProxy | None = None
    runtime: LocalRuntime | None = None
    admin_url: str = ""
    database_url: str = ""
    queues: dict[tuple[str, str], str] = field(default_factory=dict)
    template: Any = None
    s3: Any = None
    sqs: Any = None
    function_env: dict[str, str] = field(default_factory=dict)  # extra variables for every function

    @property
    def prefix(self) -> str:
        return f"smartcourse.{self.stage}"

    @property
    def bootstrap(self) -> str:
        assert self.kafka is not None
        return self.kafka.bootstrap_servers

    def bucket(self, kind: str) -> str:
        return f"smartcourse-{self.stage}-{kind}-{ACCOUNT}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, log: Any = print) -> None:
        for var in ("DATABASE_URL", "AWS_ENDPOINT_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            if os.environ.get(var):  # the private stack must not fall back on an external service
                raise RuntimeError(f"unset {var}: the chaos run starts its own services")
        self.moto_port, self.kafka_port, self.controller_port, self.http_port = free_ports(4)
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self.pg = EmbeddedPostgres(self.workdir / "pg", cleanup_mode="stop")
        self.admin_url = self.pg.start()
        self.moto = MotoServer(port=self.moto_port, log_file=self.workdir / "moto.log")
        self.moto.start()
        self.kafka = KafkaBroker(self.workdir / "kafka", port=self.kafka_port, controller_port=self.controller_port,
                                 cache_dir=CACHE_DIR / "kafka")
        self.kafka.start(timeout=120)
        self.proxy = FaultProxy("127.0.0.1", self.moto_port).start()
        log(f"private stack up in {time.monotonic() - t0:.1f}s: postgres {self.workdir / 'pg'}, "
            f"moto :{self.moto_port} (functions reach it through the fault proxy :{self.proxy.port}), "
            f"kafka :{self.kafka_port}, gateway :{self.http_port}, stage {self.stage}")

        from smartcourse import migrate

        ensure_database(self.admin_url, APP_DB)
        ep = Endpoints(self.admin_url, self.proxy.url, self.bootstrap)
        self.database_url = ep.database_url(APP_DB)
        migrate.apply(self.database_url)
        self.template = tpl.load(parameter_overrides={"Stage": self.stage})
        self.s3, self.sqs = aws_clients(self.moto.url)  # the harness and the triggers talk to moto directly
        self.queues = ensure_buckets_and_notifications(self.template, self.stage, self.s3, self.sqs)
        for (fid, _), url in self.queues.items():
            if fid == "IngestFunction":
                self.sqs.set_queue_attributes(QueueUrl=url,
                                              Attributes={"VisibilityTimeout": str(S3_RETRY_VISIBILITY_S)})
        ensure_topics(self.bootstrap, topic_specs(self.prefix))

        env = local_overrides(ep, self.stage, self.database_url)
        env["PUBLIC_BASE_URL"] = self.api
        env.update(self.function_env)
        self.runtime = LocalRuntime(
            self.template, env,
            RuntimeOptions(http_port=self.http_port, schedule_rate_s=1.0, log_dir=self.workdir / "logs",
                           only_functions={"ApiFunction", "OutboxRelayFunction", "IngestFunction",
                                           "CertificatesFunction", "NotificationsFunction"}),
            stage=self.stage, kafka_bootstrap=self.bootstrap, sqs=self.sqs, s3_queues=self.queues)
        self.runtime.start()
        if not self.runtime.wait_for_consumers(120):
            raise RuntimeError("the MSK mappings' consumers got no partitions in 120 s")
        log(f"runtime up (functions: ApiFunction, OutboxRelayFunction, IngestFunction, CertificatesFunction, "
            f"NotificationsFunction; "
            f"logs in {self.workdir / 'logs'})")

    # -- faults -----------------------------------------------------------------------------------

    def stop_kafka(self) -> None:
        assert self.kafka is not None
        self.kafka.stop()

    def start_kafka(self) -> None:
        assert self.kafka is not None
        self.kafka.start(timeout=120)

    def stop_postgres(self) -> None:
        assert self.pg is not None
        self.pg.stop()

    def start_postgres(self) -> None:
        assert self.pg is not None
        url = self.pg.start()
        if url != self.admin_url:
            raise RuntimeError(f"postgres came back at another address: {url} (was {self.admin_url})")

    def stop(self) -> None:
        if self.runtime is not None:
            with contextlib.suppress(Exception):
                self.runtime.stop()
        if self.proxy is not None:
            self.proxy.stop()
        for svc in (self.kafka, self.moto, self.pg):
            if svc is not None:
                with contextlib.suppress(Exception):
                    svc.stop()
