"""The event lake on the real stack (docs/lake.md): the LMS API in-process writes events to lms.outbox,
the real outbox relay publishes them to Kafka, and the local runtime drives LakeArchiveFunction as
template.yaml wires it (its MSK mapping over every domain topic, its compaction schedule's event)
into the stage's lake bucket in moto. The lake is read back as `make analytics-sql` reads it
(devstack.lake_sql: synced to a local folder, DuckDB over the `events` view).

- every published event is in the lake once, with its columns, in its dt/type partition;
- the same batch delivered again overwrites its files; a replay of every event (new offsets) adds
  copies the view does not count;
- compaction leaves one file per partition holding the same de-duplicated rows;
- the lake and AnalyticsFunction's rollups (driven by the same runtime) agree on enrolments and
  completions per course.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack import lake_sql
from devstack.runtime import LocalRuntime, RuntimeOptions
from devstack.stack import aws_clients
from devstack.triggers import ScheduleTrigger, msk_event
from smartcourse.container import reset_all
from tests.conftest import load_function_module
from tests.integration.lms.conftest import Api, api, api_module, db  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
FN = "LakeArchiveFunction"


class Ctx:
    function_name = "OutboxRelayFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OutboxRelayFunction"
    aws_request_id = "req-lake"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def relay(in_process_env: dict[str, str], provisioned: Any) -> Callable[[], None]:
    """Publish every committed outbox row of this session's database to Kafka (the real relay)."""
    module = load_function_module("outbox_relay")
    reset_all()

    def run() -> None:
        out = module.handler({"source": "aws.events", "max_duration_s": 3}, Ctx())
        assert out["failed"] == 0 and out["parked"] == 0, out
    return run


class Lake:
    """The stage's lake bucket, read as `make analytics-sql` reads it."""

    def __init__(self, s3: Any, bucket: str, cache: Path) -> None:
        self.s3, self.bucket, self.cache = s3, bucket, cache

    def keys(self) -> list[str]:
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="events/"):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        lake_sql.sync(self.s3, self.bucket, self.cache)
        return lake_sql.query(query, self.cache)[1]

    def quiet_keys(self, quiet_s: float = 3.0, timeout_s: float = 90) -> list[str]:
        """The bucket's keys once none has appeared for `quiet_s` (the mapping has caught up)."""
        deadline = time.monotonic() + timeout_s
        last, since = self.keys(), time.monotonic()
        while time.monotonic() - since < quiet_s:
            assert time.monotonic() < deadline, "the lake never went quiet"
            time.sleep(0.5)
            now = self.keys()
            if now != last:
                last, since = now, time.monotonic()
        return last

    def wait(self, check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.5)


@pytest.fixture
def lake(provisioned: Any, stack_endpoints: Any, template: Any, tmp_path: Path) -> Lake:
    s3, _ = aws_clients(stack_endpoints.aws_endpoint_url)
    bucket = template.buckets["LakeBucket"]
    assert bucket == template.function(FN).environment["LAKE_BUCKET"]
    return Lake(s3, bucket, tmp_path / "lake-cache")


@pytest.fixture
def runtime(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any, stage: str,
            lake: Lake) -> Iterator[LocalRuntime]:
    """LakeArchiveFunction and AnalyticsFunction with their MSK mappings, as `make run` drives them."""
    rt = LocalRuntime(template, function_env,
                      RuntimeOptions(http=False, schedules=False, s3=False, sns=False, msk=True,
                                     only_functions={FN, "AnalyticsFunction"}),
                      stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers)
    rt.start()
    try:
        assert rt.wait_for_consumers(60)
        yield rt
    finally:
        rt.stop()


def scenario(api: Api) -> dict[str, Any]:  # noqa: F811
    """A course, three learners (one completes it, one cancels), a second course with one learner."""
    teacher, _ = api.user("instructor")
    made = api.published_course(teacher, lessons=2)
    course, lessons = made["course"]["id"], made["lesson_ids"]
    enrolments = []
    for _ in range(3):
        token, _ = api.user("student")
        r = api.call("POST", f"/courses/{course}/enrollments", token)
        assert r.status == 201, r
        enrolments.append((token, r.body["id"]))
    token, eid = enrolments[0]
    for lesson in lessons:
        r = api.call("PUT", f"/enrollments/{eid}/lessons/{lesson}/progress", token, {"status": "completed"})
        assert r.status == 200, r
    token, eid = enrolments[2]
    assert api.call("DELETE", f"/enrollments/{eid}", token).status in (200, 204)
    other = api.published_course(teacher, lessons=1)["course"]["id"]
    token, _ = api.user("student")
    assert api.call("POST", f"/courses/{other}/enrollments", token).status == 201
    return {"course": course, "other": other}


def outbox(db: psycopg.Connection[Any], course_ids: list[str]) -> dict[str, dict[str, Any]]:  # noqa: F811
    """This scenario's events as written (id -> envelope), published."""
    rows = db.execute("SELECT payload FROM lms.outbox WHERE published_at IS NOT NULL ORDER BY seq").fetchall()
    return {r["payload"]["id"]: r["payload"] for r in rows if r["payload"]["data"].get("course_id") in course_ids}


def in_list(ids: list[str]) -> str:
    return "(" + ", ".join(f"'{i}'" for i in ids) + ")"


def test_every_event_is_in_the_lake_once_through_kafka_redeliveries_replays_and_compaction(
        api: Api, db: psycopg.Connection[Any], relay: Callable[[], None], lake: Lake,  # noqa: F811
        runtime: LocalRuntime, in_process_env: dict[str, str], template: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    made = scenario(api)
    relay()
    written = outbox(db, [made["course"], made["other"]])
    names = {e["type"].split(".", 1)[1].rsplit(".", 1)[0] for e in written.values()}
    assert {"course.published", "enrollment.created", "lesson.completed", "course.completed",
            "enrollment.cancelled"} <= names
    ids = in_list(list(written))

    # archived by the MSK mapping: every event once, with its columns, in its partition
    lake.wait(lambda: lake.sql(f"SELECT count(*) FROM events WHERE id IN {ids}") == [(len(written),)],
              "every event in the lake")
    rows = lake.sql(f"SELECT id, event_type, version, aggregate_type, aggregate_id, occurred_at, correlation_id, "
                    f"payload, dt, type FROM events WHERE id IN {ids}")
    for (eid, etype, version, agg_type, agg_id, occurred, cid, payload, dt, name) in rows:
        e = written[eid]
        at = datetime.fromisoformat(e["occurred_at"]).astimezone(UTC).replace(tzinfo=None)
        assert (etype, agg_type, agg_id, cid) == (e["type"], e["aggregate_type"], e["aggregate_id"],
                                                  e["correlation_id"])
        assert version == 1 and name == etype.split(".", 1)[1].rsplit(".", 1)[0]
        assert abs((occurred - at).total_seconds()) < 1e-3 and dt == at.date().isoformat()
        assert json.loads(payload) == e["data"]
    by_type = sorted(lake.sql(f"SELECT type, count(*) FROM events WHERE id IN {ids} GROUP BY 1"))
    expected = {}
    for e in written.values():
        n = e["type"].split(".", 1)[1].rsplit(".", 1)[0]
        expected[n] = expected.get(n, 0) + 1
    assert by_type == sorted(expected.items())
    # the view never shows an event twice, whatever the files hold
    assert lake.sql("SELECT count(*) - count(DISTINCT id) FROM events") == [(0,)]

    # the same batches delivered again (as the mapping does after a failed invocation): same files.
    # The runtime's mapping reads the whole stage, so other tests' events of this session may still
    # be arriving: wait until the bucket is quiet, then deliver again the batches that wrote the
    # files holding this scenario's events. A file's range is its event type's first and last offset
    # in one batch, and types interleave in a partition, so the batches are the overlapping ranges
    # merged (a single file's range would be a different batch: other types' records inside it).
    files = lake.quiet_keys()
    ours = {(r.topic, r.partition, r.offset) for r in read_back(in_process_env, list(written))}
    ranges = [(m["topic"], int(m["partition"]), int(m["first"]), int(m["last"]))
              for m in (PART.search(k) for k in files) if m is not None]
    redeliver = [(t, p, first, last) for t, p, first, last in merged_ranges(ranges)
                 if any((t, p) == (ot, op) and first <= o <= last for ot, op, o in ours)]
    assert redeliver
    pool = runtime.pools[FN]
    for topic, partition, first, last in redeliver:
        batch = read_range(in_process_env, topic, partition, first, last)
        out = pool.invoke(msk_event(batch, in_process_env["KAFKA_BOOTSTRAP_SERVERS"], "arn:local"))
        assert out.ok and out.payload == {"batchItemFailures": []}, out.payload
    def holding_ours(keys: list[str]) -> list[str]:
        """The files whose offset range holds one of this scenario's records (other tests' events of
        the session may still be arriving in new files: the mapping batches up to 60 s)."""
        return [k for k in keys if (m := PART.search(k)) is not None
                and any(t == m["topic"] and p == int(m["partition"]) and int(m["first"]) <= o <= int(m["last"])
                        for t, p, o in ours)]
    assert holding_ours(lake.keys()) == holding_ours(files)

    # a replay of every event (new offsets): copies in new files, the counts do not move
    from smartcourse import ops
    from smartcourse.db import Database
    from smartcourse.relay import RelaySettings
    from smartcourse.settings import load_settings

    database = Database(in_process_env["DATABASE_URL"])
    for etype in sorted({e["type"] for e in written.values()}):
        ops.replay(database, load_settings(RelaySettings), event_type=etype)
    lake.wait(lambda: lake.sql(f"SELECT count(*) FROM event_files WHERE id IN {ids}") >= [(2 * len(written),)],
              "the replayed copies in the lake")
    assert lake.sql(f"SELECT count(*) FROM events WHERE id IN {ids}") == [(len(written),)]
    assert sorted(lake.sql(f"SELECT type, count(*) FROM events WHERE id IN {ids} GROUP BY 1")) == by_type
    before = sorted(lake.sql(f"SELECT * EXCLUDE (archived_at, topic, kafka_partition, kafka_offset) FROM events "
                             f"WHERE id IN {ids}"))

    # compaction, invoked with the schedule event the template wires: one file per partition, same rows
    [schedule] = template.function(FN).schedule_events
    result = pool.invoke(ScheduleTrigger(pool, schedule).scheduled_event())
    assert result.ok, result.error
    assert result.payload["partitions"] >= len(expected) and result.payload["failed"] == 0, result.payload
    keys = lake.keys()
    # the partitions of this scenario's events (the session's other tests may have left events of
    # other days, outside the schedule's window of the last days, which this run leaves alone)
    ours_at = {f"events/dt={dt}/type={t}" for dt, t in lake.sql(f"SELECT DISTINCT dt, type FROM events "
                                                                f"WHERE id IN {ids}")}
    mine = [k for k in keys if k.rsplit("/", 1)[0] in ours_at]
    assert sorted(k.rsplit("/", 1)[0] for k in mine) == sorted(ours_at), mine
    assert all("/compacted-" in k for k in mine), mine
    assert sorted(lake.sql(f"SELECT * EXCLUDE (archived_at, topic, kafka_partition, kafka_offset) FROM events "
                           f"WHERE id IN {ids}")) == before
    assert lake.sql(f"SELECT count(*) FROM event_files WHERE id IN {ids}") == [(len(written),)]  # no copy left
    again = pool.invoke(ScheduleTrigger(pool, schedule).scheduled_event())
    after_again = lake.keys()
    assert again.ok and [k for k in after_again if k.rsplit("/", 1)[0] in ours_at] == mine

    # make analytics-sql's command over the same bucket
    capsys.readouterr()
    assert lake_sql.main(["--stage", in_process_env["STAGE"], "--cache-dir", str(tmp_path / "cli"), "--format",
                          "json", f"SELECT type, count(*) AS n FROM events WHERE id IN {ids} GROUP BY 1"]) == 0
    assert sorted((r["type"], r["n"]) for r in json.loads(capsys.readouterr().out)) == by_type


def read_back(env: dict[str, str], ids: list[str]) -> list[Any]:
    """The Kafka records carrying these event ids (a group of its own, from the start)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(*(f"{env['TOPIC_PREFIX']}.{t}" for t in ("course", "enrollment", "asset",
                                                                        "certificate", "user")),
                             bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
                             group_id=f"lake-test-{secrets.token_hex(4)}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    wanted, seen = set(ids), {}
    deadline = time.monotonic() + 60
    try:
        while not wanted <= set(seen) and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                for r in recs:
                    eid = json.loads(r.value)["id"]
                    if eid in wanted:
                        seen.setdefault(eid, r)
    finally:
        consumer.close()
    assert wanted <= set(seen)
    return sorted(seen.values(), key=lambda r: (r.topic, r.partition, r.offset))


#: an archived batch's file: its topic, Kafka partition and offset range (lake.domain's key)
PART = re.compile(r"/part-(?P<topic>.+)-(?P<partition>\d+)-(?P<first>\d{20})-(?P<last>\d{20})\.parquet$")


def merged_ranges(ranges: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    """Overlapping offset ranges of one topic-partition merged: each result lies inside one batch
    the archiver was given and holds every record of each type it touches in that batch (as long as
    the mapping did not deliver the same records twice with other batch boundaries, which would
    leave two files of different batches overlapping)."""
    out: list[tuple[str, int, int, int]] = []
    for topic, partition, first, last in sorted(ranges):
        if out and out[-1][:2] == (topic, partition) and first <= out[-1][3]:
            out[-1] = (topic, partition, out[-1][2], max(out[-1][3], last))
        else:
            out.append((topic, partition, first, last))
    return out


def read_range(env: dict[str, str], topic: str, partition: int, first: int, last: int) -> list[Any]:
    """The Kafka records of one topic-partition from offset `first` to `last`, as one batch."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, first)
    out: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while (not out or out[-1].offset < last) and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                out.extend(r for r in recs if first <= r.offset <= last)
    finally:
        consumer.close()
    assert out and out[0].offset == first and out[-1].offset == last, (topic, partition, first, last)
    return out


LAKE_ENROLMENTS = """
SELECT json_extract_scalar(c.payload, '$.course_id') AS course_id,
       count(*) AS enrolled,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events d WHERE d.type = 'course.completed'
           AND json_extract_scalar(d.payload, '$.enrollment_id') = json_extract_scalar(c.payload, '$.enrollment_id')))
           AS completed
FROM events c
WHERE c.type = 'enrollment.created'
  AND NOT EXISTS (SELECT 1 FROM events x WHERE x.type = 'enrollment.cancelled'
      AND json_extract_scalar(x.payload, '$.enrollment_id') = json_extract_scalar(c.payload, '$.enrollment_id'))
GROUP BY 1
"""


def test_the_lake_and_the_rollups_agree_on_enrolments_and_completions_per_course(
        api: Api, db: psycopg.Connection[Any], relay: Callable[[], None], lake: Lake,  # noqa: F811
        runtime: LocalRuntime) -> None:
    made = scenario(api)
    relay()
    courses = [made["course"], made["other"]]
    expected = {made["course"]: (2, 1), made["other"]: (1, 0)}  # live enrolments, completions

    def rollups() -> dict[str, tuple[int, int]]:
        rows = db.execute("SELECT course_id::text AS course_id, enrolled, completed FROM analytics.course_stats "
                          "WHERE course_id = ANY(%s::uuid[])", (courses,)).fetchall()
        return {r["course_id"]: (r["enrolled"], r["completed"]) for r in rows}

    def from_lake() -> dict[str, tuple[int, int]]:
        return {c: (e, d) for c, e, d in lake.sql(LAKE_ENROLMENTS) if c in courses}

    lake.wait(lambda: rollups() == expected, "the rollups")
    lake.wait(lambda: from_lake() == expected, "the lake")
    assert from_lake() == rollups()
