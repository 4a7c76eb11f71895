"""The lake's two use cases (docs/lake.md): archiving an MSK batch, and compacting partitions.

**Archiving** (`Archiver.run`) is the consumer framework's batch shape (`smartcourse.consumer`: its
envelope parsing, `PoisonRecord`, `DeadLetter` and its Kafka sink, `wait_out_outages`,
`BatchResult` and `batchItemFailures`) without its per-record database transaction: the lake's
idempotency is in the objects, not in a `processed_events` table. Per topic-partition of the batch,
the records' events are written as one Parquet object per lake partition (UTC date of occurred_at,
event name) under a key made of the topic, the Kafka partition and the offsets it holds
(`domain.part_key`): the same records delivered again overwrite the same object, and any other
redelivery (a replay, a batch cut differently) adds a copy that readers and compaction drop by id.

- A record that is not an event envelope (or a tombstone) cannot become a row, and retrying cannot
  help: it goes to the dead-letter topic at once with its reason (the framework's headers,
  `x-attempts: 1`) and counts as done. If the sink fails, it and the rest of its topic-partition
  are reported failed.
- A lake bucket that does not answer is waited out (`transient_wait_s`, never closer than the
  framework's TRANSIENT_SAFETY_MS to the deadline); if it stays out, every record of that
  topic-partition (those not dead-lettered) is reported in `batchItemFailures`, and the mapping
  retries them (MaximumRetryAttempts, then its on-failure destination, the `.dlq` topic). Other
  topic-partitions of the batch go on.

**Compaction** (`Compactor.run`, the Schedule event) merges each partition of the last
`compact_days` days that has `compact_min_files` files or more into one file, de-duplicated by id:
the merged file is written first, then the files it merged are deleted. In between, a reader sees
each event twice at most and the view (`domain.events_view_sql`) keeps one copy; no instant shows
an event missing.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from smartcourse import msk
from smartcourse.consumer import (
    BatchResult,
    DeadLetter,
    DeadLetterSink,
    PoisonRecord,
    dead_letter_fields,
    parse_envelope,
    record_value,
    wait_out_outages,
)
from smartcourse.lake import parquet
from smartcourse.lake.domain import (
    EVENTS_PREFIX,
    ArchiveUnavailable,
    LakeRow,
    Partition,
    Position,
    compacted_key,
    files_to_compact,
    group_by_partition,
    part_key,
    row_of,
)
from smartcourse.observability import count, logger, measure


class LakeStore(Protocol):
    """What the lake needs of its bucket (`objects.S3Lake`; a fake in unit tests)."""

    def put_file(self, key: str, path: Path) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def download(self, key: str, path: Path) -> None: ...

    def delete(self, keys: list[str]) -> None: ...


@dataclass
class _PartitionBatch:
    """One topic-partition's records in a batch."""

    topic: str
    partition: int
    idents: list[dict[str, Any]] = field(default_factory=list)  # batchItemFailures entries, in order
    rows: list[LakeRow] = field(default_factory=list)
    failed_from: int | None = None  # index in idents from which every record is reported failed
    dead: set[int] = field(default_factory=set)  # indexes dead-lettered (done)


class Archiver:
    def __init__(self, name: str, store: LakeStore, dead_letter: DeadLetterSink | None, *,
                 work_dir: str, transient_wait_s: float = 0.0, transient_backoff_s: float = 0.5,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.name = name
        self.store = store
        self.dead_letter = dead_letter
        self.work_dir = work_dir
        self.transient_wait_s = transient_wait_s
        self.transient_backoff_s = transient_backoff_s
        self.clock = clock

    def handle(self, event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
        return self.run(event, remaining_ms).response()

    def run(self, event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> BatchResult:
        result = BatchResult()
        wait_until = time.monotonic() + self.transient_wait_s
        archived_at = self.clock()
        batches: dict[str, _PartitionBatch] = {}
        for record in msk.records(event):
            tp = f"{record.topic}-{record.partition}"
            pb = batches.setdefault(tp, _PartitionBatch(record.topic, record.partition))
            index = len(pb.idents)
            pb.idents.append({"itemIdentifier": {"partition": tp, "offset": record.offset}})
            if pb.failed_from is not None:
                continue
            try:
                envelope = parse_envelope(record_value(record))
            except PoisonRecord as exc:
                if self._dead_letter(record, exc):
                    pb.dead.add(index)
                    result.dead_lettered += 1
                else:
                    pb.failed_from = index
                continue
            pb.rows.append(row_of(envelope, Position(record.topic, record.partition, record.offset), archived_at))
        files = 0
        for tp, pb in batches.items():
            try:
                files += self._write(pb, wait_until, remaining_ms, result)
                result.processed += len(pb.rows)
            except Exception as exc:  # the bucket stayed out (or a bug): the mapping retries these records
                logger.exception("topic-partition not archived", extra={"topic_partition": tp,
                                                                        "error_type": type(exc).__name__})
                pb.failed_from = 0
            if pb.failed_from is not None:
                result.failures.extend(ident for i, ident in enumerate(pb.idents)
                                       if i >= pb.failed_from and i not in pb.dead)
        logger.info("batch archived", extra={"rows": result.processed, "files": files,
                                             "dead_lettered": result.dead_lettered,
                                             "failed": len(result.failures)})
        count("ConsumerProcessed", result.processed)
        measure("ConsumerFailed", len(result.failures))
        measure("ConsumerDeadLettered", result.dead_lettered)
        count("ConsumerTransientRetries", result.transient_retries)
        return result

    def _write(self, pb: _PartitionBatch, wait_until: float, remaining_ms: Callable[[], int] | None,
               result: BatchResult) -> int:
        """One object per lake partition of this topic-partition's rows; the number written."""
        groups = group_by_partition(pb.rows)
        if not groups:
            return 0

        def retrying(exc: Exception, delay: float) -> None:
            result.transient_retries += 1
            logger.warning("lake bucket unavailable: retrying", extra={"error_type": type(exc).__name__,
                                                                       "retry_in_s": delay})

        folder = Path(tempfile.mkdtemp(prefix="lake-", dir=self.work_dir))
        try:
            for n, (partition, rows) in enumerate(sorted(groups.items())):
                offsets = [r.kafka_offset for r in rows]
                key = part_key(partition, pb.topic, pb.partition, min(offsets), max(offsets))
                path = folder / f"{n}.parquet"
                parquet.write_rows(rows, path, temp_dir=folder)
                wait_out_outages(functools.partial(self.store.put_file, key, path), until=lambda: wait_until,
                                 remaining_ms=remaining_ms, backoff_s=self.transient_backoff_s, on_retry=retrying)
            return len(groups)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _dead_letter(self, record: msk.MskRecord, exc: Exception) -> bool:
        """Send a record that can never become a row to the dead-letter sink; True once it is there."""
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        logger.error("record is not an event: dead-lettering it", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason})
        if self.dead_letter is None:
            return False
        try:
            self.dead_letter(DeadLetter(
                consumer=self.name, topic=record.topic, partition=record.partition, offset=record.offset,
                **dead_letter_fields(record),
                error_type=type(exc).__name__, reason=reason, attempts=1))
        except Exception:
            logger.exception("dead-lettering failed; the record stays failed")
            return False
        return True


class CompactionIncomplete(Exception):
    """Some partitions could not be compacted (their files stay as they are: nothing is lost, readers
    de-duplicate); the schedule's retries and its next run try again."""


@dataclass
class CompactionResult:
    partitions: int = 0
    files_merged: int = 0
    rows_read: int = 0
    rows_written: int = 0
    skipped: int = 0          # another compaction took the files first
    failed: list[str] = field(default_factory=list)
    left_for_next_run: int = 0

    def summary(self) -> dict[str, Any]:
        return {"partitions": self.partitions, "files_merged": self.files_merged, "rows_read": self.rows_read,
                "rows_written": self.rows_written, "skipped": self.skipped, "failed": len(self.failed),
                "left_for_next_run": self.left_for_next_run}


class Compactor:
    def __init__(self, store: LakeStore, *, work_dir: str, min_files: int = 2, max_partitions: int = 500,
                 safety_ms: int = 30_000) -> None:
        self.store = store
        self.work_dir = work_dir
        self.min_files = min_files
        self.max_partitions = max_partitions
        self.safety_ms = safety_ms

    def plan(self, days: list[str]) -> dict[Partition, list[str]]:
        """The partitions of these days worth merging, each with every file it has now."""
        plan: dict[Partition, list[str]] = {}
        for dt in days:
            date.fromisoformat(dt)  # a ValueError for anything but a date: never list the whole lake
            plan.update(files_to_compact(self.store.list_keys(f"{EVENTS_PREFIX}dt={dt}/"), self.min_files))
        return plan

    def run(self, days: list[str], remaining_ms: Callable[[], int] | None = None) -> CompactionResult:
        result = CompactionResult()
        plan = list(self.plan(days).items())
        for n, (partition, keys) in enumerate(plan):
            if n >= self.max_partitions or (remaining_ms is not None and remaining_ms() < self.safety_ms):
                result.left_for_next_run = len(plan) - n
                break
            try:
                read, written = self.compact(partition, keys)
            except _Vanished:
                result.skipped += 1
                continue
            except Exception as exc:
                logger.exception("partition not compacted", extra={"partition": partition.prefix,
                                                                   "error_type": type(exc).__name__})
                result.failed.append(partition.prefix)
                continue
            result.partitions += 1
            result.files_merged += len(keys)
            result.rows_read += read
            result.rows_written += written
        logger.info("lake compacted", extra=result.summary())
        return result

    def compact(self, partition: Partition, keys: list[str]) -> tuple[int, int]:
        """Merge `keys` (all in `partition`) into one de-duplicated file, then delete them: the merged
        file exists before any of its inputs is gone."""
        folder = Path(tempfile.mkdtemp(prefix="lake-compact-", dir=self.work_dir))
        try:
            paths = []
            for n, key in enumerate(keys):
                path = folder / f"in-{n}.parquet"
                try:
                    self.store.download(key, path)
                except ArchiveUnavailable as exc:
                    if key not in self.store.list_keys(partition.prefix):
                        raise _Vanished(key) from exc
                    raise
                paths.append(path)
            out = folder / "merged.parquet"
            read, written = parquet.merge(paths, out, temp_dir=folder)
            merged = compacted_key(partition, keys)
            self.store.put_file(merged, out)
            self.store.delete([k for k in keys if k != merged])
            logger.info("partition compacted", extra={"partition": partition.prefix, "files": len(keys),
                                                      "rows_read": read, "rows_written": written, "key": merged})
            return read, written
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class _Vanished(Exception):
    """A file listed for merging is gone: another compaction merged it first."""


def compaction_days(today: date, days: int, detail: dict[str, Any] | None) -> list[str]:
    """The dt values a run compacts: `detail.dates` of a manual run (`{"dates": ["2026-11-30"]}`),
    else today and the `days` - 1 days before it."""
    from smartcourse.lake.domain import days_back

    dates = (detail or {}).get("dates")
    if isinstance(dates, list) and dates:
        return [date.fromisoformat(str(d)).isoformat() for d in dates]
    return days_back(today, days)


__all__ = ["Archiver", "CompactionIncomplete", "CompactionResult", "Compactor", "LakeStore", "compaction_days"]
