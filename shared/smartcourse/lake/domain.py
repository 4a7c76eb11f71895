"""The lake's rules, in plain Python (no AWS, SQL engine or Kafka import): which row an event
becomes, which partition and object key it is written under, which files of a partition a
compaction merges, and which copy of an event a reader keeps (docs/lake.md).

Layout: ``events/dt=<YYYY-MM-DD>/type=<event name>/<file>.parquet``. ``dt`` is the UTC date of the
event's ``occurred_at`` and ``type`` its unversioned name (``enrollment.created``): both come from
the event itself, never from when it was archived, so a redelivered or replayed event always lands
in the same partition, and de-duplicating by id within a partition is enough.

Files: ``part-<topic>-<kafka partition>-<first offset>-<last offset>.parquet`` for what the archiver
writes (the key is a function of the records it holds: the same records delivered again overwrite
the same object), ``compacted-<digest of the merged keys>.parquet`` for a compaction's output (the
same inputs give the same key: a compaction run again after a crash overwrites its own output).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from smartcourse.events import EventEnvelope

#: Where the events live in the lake bucket (the Glue table's location).
EVENTS_PREFIX = "events/"
#: The Glue table over the files as written (an event may sit in two files until compaction).
FILES_TABLE = "event_files"
#: The view every query reads: one row per event id.
EVENTS_VIEW = "events"

#: The Parquet columns, in order, with their DuckDB types (Glue/Athena types in template.yaml:
#: VARCHAR -> string, INTEGER -> int, BIGINT -> bigint, TIMESTAMP -> timestamp; all times UTC).
#: The partition columns `dt` and `type` are not in the files: they are the path.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("event_type", "VARCHAR"),       # the versioned type: smartcourse.enrollment.created.v1
    ("version", "INTEGER"),
    ("aggregate_type", "VARCHAR"),
    ("aggregate_id", "VARCHAR"),     # the Kafka key
    ("occurred_at", "TIMESTAMP"),
    ("correlation_id", "VARCHAR"),
    ("payload", "VARCHAR"),          # the event's data as JSON text
    ("topic", "VARCHAR"),            # lineage: where the archiver read it
    ("kafka_partition", "INTEGER"),
    ("kafka_offset", "BIGINT"),
    ("archived_at", "TIMESTAMP"),
)
PARTITION_COLUMNS = ("dt", "type")

#: Which copy of an event a reader keeps (the copies differ only in their lineage columns): the
#: first archived, then the lowest Kafka position. Compaction keeps the same copy.
DEDUPE_ORDER = "archived_at, topic, kafka_partition, kafka_offset"


def events_view_sql(files_table: str = FILES_TABLE) -> str:
    """The de-duplicating view, one SQL for Athena and DuckDB: one row per event id. `dt` and
    `type` are in the window's PARTITION BY (an event's copies always share them), so a filter on
    them is pushed under the window and Athena still reads only the partitions asked for."""
    columns = ", ".join([name for name, _ in COLUMNS] + list(PARTITION_COLUMNS))
    return (f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY dt, type, id "
            f"ORDER BY {DEDUPE_ORDER}) AS copy_number FROM {files_table}) AS numbered WHERE copy_number = 1")


class LakeError(Exception):
    """A lake rule was broken (a key or a row that does not fit the layout)."""


class ArchiveUnavailable(Exception):
    """The lake bucket did not answer: the same records can be archived once it is back."""

    transient = True


@dataclass(frozen=True, order=True)
class Partition:
    dt: str    # YYYY-MM-DD (UTC)
    type: str  # the unversioned event name

    @property
    def prefix(self) -> str:
        return f"{EVENTS_PREFIX}dt={self.dt}/type={self.type}/"


@dataclass(frozen=True)
class Position:
    """Where the archiver read a record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class LakeRow:
    id: str
    event_type: str
    version: int
    aggregate_type: str
    aggregate_id: str
    occurred_at: datetime   # naive UTC
    correlation_id: str | None
    payload: str
    topic: str
    kafka_partition: int
    kafka_offset: int
    archived_at: datetime   # naive UTC
    partition: Partition

    def values(self) -> tuple[Any, ...]:
        """The column values in COLUMNS order."""
        return tuple(getattr(self, name) for name, _ in COLUMNS)


_TYPE_VALUE = re.compile(r"^[a-z_]+\.[a-z_]+$")


def _utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def partition_of(envelope: EventEnvelope) -> Partition:
    """The event's partition: its occurred_at's UTC date and its unversioned name."""
    return Partition(_utc_naive(envelope.occurred_at).date().isoformat(), envelope.name)


def row_of(envelope: EventEnvelope, at: Position, archived_at: datetime) -> LakeRow:
    return LakeRow(
        id=str(envelope.id), event_type=envelope.type, version=envelope.version,
        aggregate_type=envelope.aggregate_type, aggregate_id=envelope.aggregate_id,
        occurred_at=_utc_naive(envelope.occurred_at), correlation_id=envelope.correlation_id,
        payload=json.dumps(envelope.data, separators=(",", ":"), sort_keys=True, default=str),
        topic=at.topic, kafka_partition=at.partition, kafka_offset=at.offset,
        archived_at=_utc_naive(archived_at), partition=partition_of(envelope))


def part_key(partition: Partition, topic: str, kafka_partition: int, first_offset: int, last_offset: int) -> str:
    """The archiver's object for the records of one topic-partition in one lake partition: a
    function of those records only, so a redelivery of the same records overwrites it."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic) or kafka_partition < 0 or not 0 <= first_offset <= last_offset:
        raise LakeError(f"no part key for {topic}-{kafka_partition} {first_offset}..{last_offset}")
    return f"{partition.prefix}part-{topic}-{kafka_partition}-{first_offset:020d}-{last_offset:020d}.parquet"


def compacted_key(partition: Partition, merged_keys: list[str]) -> str:
    """A compaction's output: named by the keys it merges (run again on the same files, the same key)."""
    digest = hashlib.sha256("\n".join(sorted(merged_keys)).encode()).hexdigest()[:24]
    return f"{partition.prefix}compacted-{digest}.parquet"


_KEY = re.compile(r"^events/dt=(\d{4}-\d{2}-\d{2})/type=([a-z_]+\.[a-z_]+)/(part-|compacted-)[^/]+\.parquet$")


def partition_of_key(key: str) -> Partition | None:
    """The partition of an object key of the layout; None for anything else (ignored by the lake)."""
    m = _KEY.match(key)
    if not m:
        return None
    try:
        date.fromisoformat(m.group(1))
    except ValueError:
        return None
    return Partition(m.group(1), m.group(2))


def group_by_partition(rows: list[LakeRow]) -> dict[Partition, list[LakeRow]]:
    out: dict[Partition, list[LakeRow]] = {}
    for row in rows:
        out.setdefault(row.partition, []).append(row)
    return out


def files_to_compact(keys: list[str], min_files: int = 2) -> dict[Partition, list[str]]:
    """The partitions a compaction merges, each with all its files: those with at least
    `min_files` files (a partition already in one file is left alone)."""
    by_partition: dict[Partition, list[str]] = {}
    for key in keys:
        p = partition_of_key(key)
        if p is not None:
            by_partition.setdefault(p, []).append(key)
    return {p: sorted(ks) for p, ks in sorted(by_partition.items()) if len(ks) >= max(2, min_files)}


def dedupe(rows: list[LakeRow]) -> list[LakeRow]:
    """One row per event id: the copy a reader keeps (DEDUPE_ORDER), in that order."""
    kept: dict[str, LakeRow] = {}
    for row in sorted(rows, key=lambda r: (r.archived_at, r.topic, r.kafka_partition, r.kafka_offset)):
        kept.setdefault(row.id, row)
    return list(kept.values())


def days_back(today: date, days: int) -> list[str]:
    """The dt values a scheduled compaction looks at: today and the `days` - 1 days before it."""
    from datetime import timedelta

    return [(today - timedelta(days=n)).isoformat() for n in range(max(1, days))]


def valid_type_value(name: str) -> bool:
    return bool(_TYPE_VALUE.match(name))
