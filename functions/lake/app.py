"""LakeArchiveFunction: every domain event archived to the lake bucket as Parquet (issue 18, docs/lake.md).
A thin translator over `smartcourse.lake.service`. Two kinds of event:

- MSK (every topic that carries domain events: course, enrollment, asset, certificate, user): the
  batch's events written as Parquet under events/dt=<day>/type=<event name>/ (`Archiver`); a
  record that is not an event goes to `<prefix>.dlq` with its reason; a topic-partition whose
  objects could not be written is reported in `batchItemFailures` (the mapping retries it).
- Schedule (``source == "aws.events"``): compaction of the last COMPACT_DAYS days' partitions
  (`Compactor`); ``detail.dates`` names other days for a manual run. A partition it could not
  compact fails the invocation (Lambda retries it, then AsyncFailuresQueue) after the others are done.

A function of its own, not a handler of AnalyticsFunction: it touches no database, its batches are
large and its work is S3 writes (BatchSize 1,000 and a batching window, against the rollups' 100
records in per-event transactions), it reads two topics AnalyticsFunction does not need (asset,
certificate), and a slow or failing bucket must not hold back the rollups the reports read (nor a
database outage the archive). Settings and the S3 client are built on the first invocation.
"""

from __future__ import annotations

# isort: off
from smartcourse import coldstart  # first: the imports below run without the garbage collector
# isort: on

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcourse.aws import client
from smartcourse.container import container
from smartcourse.kafka_client import KafkaDeadLetterSink
from smartcourse.lake.objects import S3Lake
from smartcourse.lake.service import Archiver, CompactionIncomplete, Compactor, compaction_days
from smartcourse.lake.settings import LakeSettings
from smartcourse.observability import logger, metrics
from smartcourse.settings import load_settings


@dataclass(frozen=True)
class Deps:
    settings: LakeSettings
    archiver: Archiver
    compactor: Compactor


@container
def deps() -> Deps:
    """Built on the first invocation from LakeSettings."""
    s = load_settings(LakeSettings)
    store = S3Lake(client("s3", s), s.lake_bucket)
    archiver = Archiver(s.consumer_name, store, KafkaDeadLetterSink(s), work_dir=s.work_dir,
                        transient_wait_s=s.transient_wait_s)
    compactor = Compactor(store, work_dir=s.work_dir, min_files=s.compact_min_files,
                          max_partitions=s.compact_max_partitions, safety_ms=s.compact_safety_ms)
    return Deps(s, archiver, compactor)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if event.get("source") == "aws.events":
        days = compaction_days(datetime.now(UTC).date(), d.settings.compact_days, event.get("detail"))
        result = d.compactor.run(days, remaining)
        if result.failed:
            raise CompactionIncomplete(f"{len(result.failed)} partition(s) not compacted: {result.failed[:5]}")
        return result.summary()
    return d.archiver.handle(event, remaining)

coldstart.loaded()  # last: freeze what the import made, collection back on
