"""The local runtime: "sam local" without Docker. template.yaml decides which function an HTTP
route, a schedule, an S3 upload, an SNS topic or a Kafka topic invokes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.gateway import Gateway
from devstack.invoker import FunctionPool, function_env
from devstack.template import Template
from devstack.triggers import MskTrigger, S3QueueTrigger, ScheduleTrigger, SnsQueueTrigger, Trigger

log = logging.getLogger("devstack.runtime")


@dataclass
class RuntimeOptions:
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    schedule_rate_s: float | None = None  # local period of a 1-minute schedule (others keep their ratio)
    max_concurrency: int = 4
    log_dir: Path | None = None
    http: bool = True
    schedules: bool = True
    s3: bool = True
    sns: bool = True
    msk: bool = True
    only_functions: set[str] | None = None
    msk_retry_backoff_s: float = 0.2
    extra_env: dict[str, str] = field(default_factory=dict)


class LocalRuntime:
    def __init__(self, template: Template, env_overrides: dict[str, str], options: RuntimeOptions,
                 *, stage: str, kafka_bootstrap: str, sqs: Any = None,
                 s3_queues: dict[tuple[str, str], str] | None = None) -> None:
        """``s3_queues``: what provisioning returns, {(function, event name): queue url} of the S3
        and SNS triggers (`devstack.provision.ensure_buckets_and_notifications`)."""
        self.template = template
        self.options = options
        self.stage = stage
        self.pools = {
            fid: FunctionPool(spec, function_env(spec, {**env_overrides, **options.extra_env}),
                              max_concurrency=options.max_concurrency, log_dir=options.log_dir)
            for fid, spec in template.functions.items()
        }
        self.kafka_bootstrap = kafka_bootstrap
        self.sqs = sqs
        self.s3_queues = s3_queues or {}
        self.triggers: list[Trigger] = []
        self.gateway: Gateway | None = None

    def _wanted(self, fid: str) -> bool:
        return self.options.only_functions is None or fid in self.options.only_functions

    def start(self) -> None:
        o = self.options
        if o.http:
            self.gateway = Gateway(self.template, self.pools, o.http_host, o.http_port, self.stage)
            self.gateway.start()
        for fid, spec in self.template.functions.items():
            if not self._wanted(fid):
                continue
            pool = self.pools[fid]
            if o.schedules:
                for sev in spec.schedule_events:
                    if sev.enabled:
                        self.triggers.append(ScheduleTrigger(pool, sev, o.schedule_rate_s))
            if o.s3 and self.sqs is not None:
                for s3ev in spec.s3_events:
                    self.triggers.append(S3QueueTrigger(pool, s3ev.name, self.sqs, self.s3_queues[(fid, s3ev.name)]))
            if o.sns and self.sqs is not None:
                for snsev in spec.sns_events:
                    url = self.s3_queues.get((fid, snsev.name))
                    if url is None:  # provisioned by an older call, or by hand without the SNS queues
                        log.warning("%s.%s: no queue subscribed to %s was provisioned; SNS event not driven",
                                    fid, snsev.name, snsev.topic_arn)
                        continue
                    self.triggers.append(SnsQueueTrigger(pool, snsev, self.sqs, url))
            if o.msk:
                for mev in spec.msk_events:
                    self.triggers.append(MskTrigger(pool, mev, self.kafka_bootstrap,
                                                    retry_backoff_s=o.msk_retry_backoff_s))
        for t in self.triggers:
            t.start()

    def wait_for_consumers(self, timeout: float = 60) -> bool:
        """Until every MSK mapping's consumer has its partitions (group join takes a few seconds)."""
        ok = True
        for t in self.triggers:
            if isinstance(t, MskTrigger):
                ok = t.assigned.wait(timeout) and ok
        return ok

    def stop(self) -> None:
        for t in self.triggers:
            t.stop()
        if self.gateway is not None:
            self.gateway.stop()
        for t in self.triggers:
            t.join(15)
        for pool in self.pools.values():
            pool.close()
