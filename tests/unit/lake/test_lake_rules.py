"""The lake's rules without any service: rows, partitions, keys, which files a compaction merges,
which copy of an event is kept, the archiver's batch semantics (a fake bucket, real Parquet files
through DuckDB), and the template's Glue table agreeing with the code (docs/lake.md)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_raw
from smartcourse.consumer import DeadLetter
from smartcourse.events import EventEnvelope, new_event
from smartcourse.lake import parquet
from smartcourse.lake.domain import (
    COLUMNS,
    ArchiveUnavailable,
    LakeError,
    Partition,
    Position,
    compacted_key,
    dedupe,
    events_view_sql,
    files_to_compact,
    part_key,
    partition_of,
    partition_of_key,
    row_of,
)
from smartcourse.lake.service import Archiver, Compactor, compaction_days
from smartcourse.lms.event_schemas import EVENTS
from tests.conftest import ROOT

T0 = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)


def envelope(name: str = "enrollment.created", at: datetime = T0, **data: Any) -> EventEnvelope:
    e = new_event(name, uuid.uuid4(), data or {"n": 1}, correlation_id="cid-1")
    return e.model_copy(update={"occurred_at": at})


# --- rows and partitions -------------------------------------------------------------------------

def test_an_event_is_partitioned_by_its_own_utc_date_and_unversioned_name() -> None:
    late_evening_in_new_york = datetime(2026, 12, 6, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert partition_of(envelope("lesson.completed", late_evening_in_new_york)) == Partition("2026-12-07",
                                                                                             "lesson.completed")
    row = row_of(envelope(at=late_evening_in_new_york, course_id="c1", b=[1, 2]),
                 Position("smartcourse.t.enrollment", 4, 17), datetime(2027, 1, 1, tzinfo=UTC))
    assert row.partition.prefix == "events/dt=2026-12-07/type=enrollment.created/"
    assert row.occurred_at == datetime(2026, 12, 7, 1, 30) and row.occurred_at.tzinfo is None  # UTC, naive
    assert row.archived_at == datetime(2027, 1, 1)  # archived later: the partition does not move
    assert (row.event_type, row.version, row.correlation_id) == ("smartcourse.enrollment.created.v1", 1, "cid-1")
    assert json.loads(row.payload) == {"b": [1, 2], "course_id": "c1"}
    assert (row.topic, row.kafka_partition, row.kafka_offset) == ("smartcourse.t.enrollment", 4, 17)
    assert len(row.values()) == len(COLUMNS)


def test_part_keys_are_a_function_of_the_records_and_sort_by_offset() -> None:
    p = Partition("2026-12-06", "course.published")
    key = part_key(p, "smartcourse.dev.course", 2, 7, 1200)
    assert key == ("events/dt=2026-12-06/type=course.published/part-smartcourse.dev.course-2-"
                   "00000000000000000007-00000000000000001200.parquet")
    assert key == part_key(p, "smartcourse.dev.course", 2, 7, 1200)  # a redelivery overwrites it
    assert part_key(p, "t", 0, 9, 10) < part_key(p, "t", 0, 10, 10)
    assert partition_of_key(key) == p
    for bad in [("t", -1, 0, 0), ("t", 0, 5, 4), ("a/b", 0, 0, 0)]:
        with pytest.raises(LakeError):
            part_key(p, *bad)  # type: ignore[arg-type]


def test_compacted_keys_are_named_by_what_they_merge() -> None:
    p = Partition("2026-12-06", "user.deleted")
    a = compacted_key(p, ["k2", "k1"])
    assert a == compacted_key(p, ["k1", "k2"]) and a != compacted_key(p, ["k1"])
    assert re.fullmatch(r"events/dt=2026-12-06/type=user\.deleted/compacted-[0-9a-f]{24}\.parquet", a)
    assert partition_of_key(a) == p


@pytest.mark.parametrize("key", ["events/dt=2026-13-01/type=a.b/part-x.parquet",
                                 "events/dt=2026-12-01/type=a.b/x.parquet", "athena-results/q.csv",
                                 "events/dt=2026-12-01/type=A.b/part-x.parquet",
                                 "events/dt=2026-12-01/type=a.b/sub/part-x.parquet"])
def test_keys_outside_the_layout_are_not_part_of_the_lake(key: str) -> None:
    assert partition_of_key(key) is None


def test_compaction_merges_only_partitions_with_several_files_and_takes_all_their_files() -> None:
    a, b = Partition("2026-12-05", "course.updated"), Partition("2026-12-05", "lesson.completed")
    keys = [part_key(a, "t", 0, 1, 2), compacted_key(a, ["x"]), part_key(b, "t", 1, 3, 3), "events/dt=2026-12-05/junk"]
    assert files_to_compact(keys) == {a: sorted(keys[:2])}
    assert files_to_compact(keys, min_files=3) == {}
    assert files_to_compact([*keys, part_key(b, "t", 1, 4, 4)]) == {a: sorted(keys[:2]),
                                                                     b: [keys[2], part_key(b, "t", 1, 4, 4)]}


def test_dedupe_keeps_the_first_archived_copy_of_each_event() -> None:
    e = envelope()
    first = row_of(e, Position("t", 1, 50), datetime(2026, 12, 7, 1, tzinfo=UTC))
    replayed = row_of(e, Position("t", 1, 90), datetime(2026, 12, 8, tzinfo=UTC))
    same_time_lower_offset = row_of(e, Position("t", 1, 40), datetime(2026, 12, 7, 1, tzinfo=UTC))
    other = row_of(envelope(), Position("t", 2, 1), datetime(2026, 12, 7, tzinfo=UTC))
    assert dedupe([replayed, first, other]) == [other, first]
    assert dedupe([first, same_time_lower_offset]) == [same_time_lower_offset]


def test_compaction_days_are_recent_days_or_the_dates_a_manual_run_names() -> None:
    assert compaction_days(date(2026, 3, 1), 3, None) == ["2026-03-01", "2026-02-28", "2026-02-27"]
    assert compaction_days(date(2026, 3, 1), 3, {"dates": ["2025-12-31"]}) == ["2025-12-31"]
    with pytest.raises(ValueError):
        compaction_days(date(2026, 3, 1), 3, {"dates": ["*"]})


# --- the archiver and the compactor over a fake bucket (real Parquet through DuckDB) --------------

class FakeBucket:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects: dict[str, bytes] = {}
        self.down = False
        self.puts = 0

    def put_file(self, key: str, path: Path) -> None:
        if self.down:
            raise ArchiveUnavailable("bucket down")
        self.puts += 1
        self.objects[key] = path.read_bytes()

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def download(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise ArchiveUnavailable(f"no {key}")
        path.write_bytes(self.objects[key])

    def delete(self, keys: list[str]) -> None:
        for k in keys:
            self.objects.pop(k, None)

    def rows(self, prefix: str = "events/") -> list[dict[str, Any]]:
        paths = []
        for n, key in enumerate(self.list_keys(prefix)):
            path = self.root / f"read-{n}.parquet"
            path.write_bytes(self.objects[key])
            paths.append(path)
        return parquet.read_rows(paths) if paths else []


def record(topic: str, partition: int, offset: int, value: bytes | None, key: bytes = b"k") -> dict[str, Any]:
    return {"topic": topic, "partition": partition, "offset": offset, "timestamp": 0, "timestampType": "CREATE_TIME",
            "key": base64.b64encode(key).decode(),
            "value": base64.b64encode(value).decode() if value is not None else None,
            "headers": [{"id": list(b"x")}]}


def msk(*records: dict[str, Any]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault(f"{r['topic']}-{r['partition']}", []).append(r)
    return {"eventSource": "aws:kafka", "records": grouped}


def value(e: EventEnvelope) -> bytes:
    return e.model_dump_json().encode()


@pytest.fixture
def bucket(tmp_path: Path) -> FakeBucket:
    return FakeBucket(tmp_path)


def archiver(bucket: FakeBucket, tmp_path: Path, sink: Any = None, wait_s: float = 0.0) -> Archiver:
    return Archiver("lake", bucket, sink, work_dir=str(tmp_path), transient_wait_s=wait_s, transient_backoff_s=0.01,
                    clock=lambda: datetime(2026, 12, 7, 12, tzinfo=UTC))


def test_a_batch_becomes_one_file_per_topic_partition_and_lake_partition_with_every_column(
        bucket: FakeBucket, tmp_path: Path) -> None:
    e1, e2 = envelope("enrollment.created", T0), envelope("enrollment.created", T0 - timedelta(days=1))
    e3, e4 = envelope("lesson.completed", T0), envelope("course.published", T0)
    batch = msk(record("p.enrollment", 0, 10, value(e1)), record("p.enrollment", 0, 11, value(e2)),
                record("p.enrollment", 0, 12, value(e3)), record("p.enrollment", 3, 5, value(envelope(at=T0))),
                record("p.course", 1, 0, value(e4)))
    out = archiver(bucket, tmp_path).run(batch)
    assert out.failures == [] and out.processed == 5
    assert sorted(bucket.objects) == sorted([
        "events/dt=2026-12-06/type=enrollment.created/part-p.enrollment-0-00000000000000000010-00000000000000000010.parquet",
        "events/dt=2026-12-05/type=enrollment.created/part-p.enrollment-0-00000000000000000011-00000000000000000011.parquet",
        "events/dt=2026-12-06/type=lesson.completed/part-p.enrollment-0-00000000000000000012-00000000000000000012.parquet",
        "events/dt=2026-12-06/type=enrollment.created/part-p.enrollment-3-00000000000000000005-00000000000000000005.parquet",
        "events/dt=2026-12-06/type=course.published/part-p.course-1-00000000000000000000-00000000000000000000.parquet",
    ])
    [row] = bucket.rows("events/dt=2026-12-06/type=course.published/")
    assert list(row) == [c for c, _ in COLUMNS]
    assert row["id"] == str(e4.id) and row["event_type"] == "smartcourse.course.published.v1"
    assert row["occurred_at"] == datetime(2026, 12, 6, 23, 59, 59) and row["archived_at"] == datetime(2026, 12, 7, 12)
    assert (row["aggregate_type"], row["aggregate_id"], row["version"]) == ("course", e4.aggregate_id, 1)
    assert json.loads(row["payload"]) == e4.data and row["correlation_id"] == "cid-1"
    assert (row["topic"], row["kafka_partition"], row["kafka_offset"]) == ("p.course", 1, 0)


def test_the_same_batch_delivered_again_overwrites_its_files(bucket: FakeBucket, tmp_path: Path) -> None:
    batch = msk(*(record("p.user", 0, n, value(envelope("user.deleted"))) for n in range(3)))
    archiver(bucket, tmp_path).run(batch)
    before = dict(bucket.objects)
    archiver(bucket, tmp_path).run(batch)
    assert sorted(bucket.objects) == sorted(before) and len(bucket.rows()) == 3


def test_a_record_that_is_not_an_event_is_dead_lettered_at_once_and_the_rest_archived(
        bucket: FakeBucket, tmp_path: Path) -> None:
    letters: list[DeadLetter] = []
    good = envelope()
    not_base64 = {**record("p.course", 0, 4, None), "value": "not base64!"}
    batch = msk(record("p.course", 0, 1, b"not json"), record("p.course", 0, 2, None),
                record("p.course", 0, 3, value(good)), not_base64)
    out = archiver(bucket, tmp_path, letters.append).run(batch)
    assert out.failures == [] and out.dead_lettered == 3 and out.processed == 1
    assert [(d.offset, d.attempts, d.error_type, d.consumer) for d in letters] == [
        (1, 1, "PoisonRecord", "lake"), (2, 1, "PoisonRecord", "lake"), (4, 1, "PoisonRecord", "lake")]
    assert dict(letters[0].dead_letter_headers())["x-source-topic"] == b"p.course"
    assert letters[2].value == b"not base64!"  # kept as it arrived
    assert [r["id"] for r in bucket.rows()] == [str(good.id)]


def test_without_a_working_sink_the_poison_and_the_rest_of_its_partition_are_reported(
        bucket: FakeBucket, tmp_path: Path) -> None:
    def broken(_: DeadLetter) -> None:
        raise RuntimeError("dlq down")

    batch = msk(record("p.course", 0, 1, value(envelope())), record("p.course", 0, 2, b"{}"),
                record("p.course", 0, 3, value(envelope())), record("p.user", 1, 9, value(envelope())))
    out = archiver(bucket, tmp_path, broken).run(batch)
    assert out.failures == [{"itemIdentifier": {"partition": "p.course-0", "offset": 2}},
                            {"itemIdentifier": {"partition": "p.course-0", "offset": 3}}]
    assert len(bucket.rows()) == 2  # offset 1 and the other partition's record


def test_a_bucket_that_stays_down_fails_every_record_of_the_partition_and_waits_out_a_short_outage(
        bucket: FakeBucket, tmp_path: Path) -> None:
    batch = msk(record("p.course", 0, 1, value(envelope())), record("p.course", 0, 2, value(envelope())))
    bucket.down = True
    out = archiver(bucket, tmp_path, wait_s=0.0).run(batch)
    assert [f["itemIdentifier"]["offset"] for f in out.failures] == [1, 2] and bucket.objects == {}

    calls = {"n": 0}
    real_put = bucket.put_file

    def flaky(key: str, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ArchiveUnavailable("slow down")
        bucket.down = False
        real_put(key, path)

    bucket.put_file = flaky  # type: ignore[method-assign]
    out = archiver(bucket, tmp_path, wait_s=5.0).run(batch)
    assert out.failures == [] and out.transient_retries == 2 and len(bucket.rows()) == 2
    assert not list(tmp_path.glob("lake-*"))  # the working files are removed


def test_compaction_leaves_one_deduplicated_file_per_partition_and_is_stable(
        bucket: FakeBucket, tmp_path: Path) -> None:
    events = [envelope("enrollment.created") for _ in range(5)]
    a = archiver(bucket, tmp_path)
    a.run(msk(*(record("p.enrollment", 0, n, value(e)) for n, e in enumerate(events[:3]))))
    a.run(msk(*(record("p.enrollment", 0, 3 + n, value(e)) for n, e in enumerate(events[3:]))))
    a.run(msk(*(record("p.enrollment", 1, 100 + n, value(e)) for n, e in enumerate(events))))  # replayed
    a.run(msk(record("p.user", 0, 1, value(envelope("user.deleted")))))
    prefix = "events/dt=2026-12-06/type=enrollment.created/"
    assert len(bucket.list_keys(prefix)) == 3 and len(bucket.rows(prefix)) == 10

    compactor = Compactor(bucket, work_dir=str(tmp_path))
    result = compactor.run(["2026-12-06"])
    assert (result.partitions, result.files_merged, result.rows_read, result.rows_written) == (1, 3, 10, 5)
    [merged] = bucket.list_keys(prefix)
    assert "/compacted-" in merged
    rows = bucket.rows(prefix)
    assert sorted(r["id"] for r in rows) == sorted(str(e.id) for e in events)
    assert {r["kafka_partition"] for r in rows} == {0}  # the first archived copies
    assert len(bucket.list_keys("events/dt=2026-12-06/type=user.deleted/")) == 1  # one file: left alone
    assert compactor.run(["2026-12-06"]).partitions == 0  # nothing more to do
    # a new file in a compacted partition: merged with the compacted one
    a.run(msk(record("p.enrollment", 0, 5, value(envelope("enrollment.created")))))
    assert compactor.run(["2026-12-06"]).rows_written == 6 and len(bucket.list_keys(prefix)) == 1


def test_compaction_writes_the_merged_file_before_deleting_and_a_failure_loses_nothing(
        bucket: FakeBucket, tmp_path: Path) -> None:
    a = archiver(bucket, tmp_path)
    for n in range(3):
        a.run(msk(record("p.course", 0, n, value(envelope("course.updated")))))
    prefix = "events/dt=2026-12-06/type=course.updated/"
    seen: list[int] = []
    real_delete = bucket.delete

    def delete(keys: list[str]) -> None:
        seen.append(len(bucket.rows(prefix)))  # the merged file is there, the inputs too: 3 + 3 copies
        raise ArchiveUnavailable("delete failed")

    bucket.delete = delete  # type: ignore[method-assign]
    result = Compactor(bucket, work_dir=str(tmp_path)).run(["2026-12-06"])
    assert result.failed == [prefix] and seen == [6]
    assert len({r["id"] for r in bucket.rows(prefix)}) == 3  # every event still there (twice: readers dedupe)
    bucket.delete = real_delete  # type: ignore[method-assign]
    assert Compactor(bucket, work_dir=str(tmp_path)).run(["2026-12-06"]).rows_written == 3
    assert len(bucket.list_keys(prefix)) == 1 and len(bucket.rows(prefix)) == 3


def test_compaction_stops_before_the_deadline_and_within_its_partition_budget(
        bucket: FakeBucket, tmp_path: Path) -> None:
    a = archiver(bucket, tmp_path)
    for name in ("course.updated", "user.deleted", "asset.created"):
        for n in range(2):
            a.run(msk(record("p.x", 0, n, value(envelope(name)))))
    assert Compactor(bucket, work_dir=str(tmp_path), max_partitions=2).run(["2026-12-06"]).left_for_next_run == 1
    assert Compactor(bucket, work_dir=str(tmp_path)).run(["2026-12-06"], lambda: 1_000).left_for_next_run == 1


# --- the view, and the template's catalogue agreeing with the code ---------------------------------

def test_the_view_keeps_one_row_per_event_in_duckdb(bucket: FakeBucket, tmp_path: Path) -> None:
    e = envelope("course.completed")
    a = archiver(bucket, tmp_path)
    a.run(msk(record("p.enrollment", 0, 1, value(e))))
    a.run(msk(record("p.enrollment", 0, 1, value(e)),
              record("p.enrollment", 0, 2, value(envelope("course.completed")))))
    root = tmp_path / "lake"
    for key, body in bucket.objects.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    con = parquet.connect()
    con.execute(f"CREATE VIEW event_files AS SELECT * FROM read_parquet('{root}/events/**/*.parquet', "
                "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'type': VARCHAR}, union_by_name = true)")
    con.execute(f"CREATE VIEW events AS {events_view_sql()}")
    assert con.execute("SELECT count(*) FROM event_files").fetchone() == (3,)
    assert con.execute("SELECT type, dt, count(*) FROM events GROUP BY ALL").fetchall() == [
        ("course.completed", "2026-12-06", 2)]


RAW = load_raw()


def _table() -> dict[str, Any]:
    return RAW["Resources"]["LakeEventFilesTable"]["Properties"]["TableInput"]


def test_the_glue_table_has_the_parquet_columns_and_partitions_the_code_writes() -> None:
    glue = {"VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "TIMESTAMP": "timestamp"}
    table = _table()
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        (name, glue[t]) for name, t in COLUMNS]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "type"]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.dt.format"] == "yyyy-MM-dd"
    assert "events/dt=${!dt}/type=${!type}/" in params["storage.location.template"].value


def test_the_type_projection_lists_every_event_the_code_writes() -> None:
    """An event name missing from projection.type.values would be invisible to Athena."""
    written = set(EVENTS)
    for path in (ROOT / "shared" / "smartcourse").rglob("*.py"):
        written |= set(re.findall(r'new_event\(\s*"([a-z_]+\.[a-z_]+)"', path.read_text()))
    assert "certificate.issued" in written
    assert set(_table()["Parameters"]["projection.type.values"].split(",")) == written


def test_the_athena_view_is_the_view_duckdb_runs() -> None:
    query = RAW["Resources"]["LakeEventsView"]["Properties"]["QueryString"]
    assert query == f"CREATE OR REPLACE VIEW events AS {events_view_sql()}"


def test_the_pinned_duckdb_wheel_loads_on_the_lambda_runtime() -> None:
    """python3.11 runs on Amazon Linux 2 (glibc 2.26): a wheel needing a newer glibc would not load
    there (duckdb 2.0.1's needs 2.27). The function's pin is the version installed here."""
    import importlib.metadata

    dist = importlib.metadata.distribution("duckdb")
    pins = (ROOT / "functions" / "lake" / "requirements.txt").read_text()
    assert f"duckdb=={dist.version}\n" in pins
    tags = [line.split(": ", 1)[1] for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag: ")]
    glibc = [(int(m.group(1)), int(m.group(2))) for t in tags
             if (m := re.search(r"manylinux_(\d+)_(\d+)_x86_64", t.replace("manylinux2014", "manylinux_2_17")))]
    assert glibc and min(glibc) <= (2, 26), tags
