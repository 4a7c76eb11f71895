"""The consumer framework with a fake database: act once, report the right failures, dead-letter."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from smartcourse.consumer import Consumer, DeadLetter
from smartcourse.errors import DependencyUnavailable
from smartcourse.events import EventEnvelope, new_event


class FakeConn:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.processed: set[tuple[str, str]] = set()
        self.effects: list[str] = []
        self.failures: dict[tuple[Any, ...], dict[str, Any]] = {}

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        class Result:
            def __init__(self, row: Any) -> None:
                self.row = row

            def fetchone(self) -> Any:
                return self.row

        if "processed_events" in sql:
            key = (params[0], str(params[1]))
            if key in self.db.processed or key in self.processed:
                return Result(None)
            self.processed.add(key)
            return Result({"?column?": 1})
        if sql.startswith("INSERT INTO lms.consumer_failures"):
            key = params[:4]
            row = self.db.failures.get(key) or {"attempts": 0}
            row = {**row, "attempts": row["attempts"] + 1, "error_type": params[5], "last_error": params[6]}
            self.failures[key] = row
            return Result({"attempts": row["attempts"], "dead": bool(row.get("dead"))})
        if sql.startswith("UPDATE lms.consumer_failures"):
            self.failures[tuple(params)] = {**self.db.failures[tuple(params)], "dead": True}
            return Result(None)
        raise AssertionError(f"unexpected SQL {sql}")


class FakeDatabase:
    """Commits a transaction's writes only if its block does not raise, like Postgres."""

    def __init__(self) -> None:
        self.processed: set[tuple[str, str]] = set()
        self.effects: list[str] = []
        self.failures: dict[tuple[Any, ...], dict[str, Any]] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[FakeConn]:
        conn = FakeConn(self)
        yield conn
        self.processed |= conn.processed
        self.effects += conn.effects
        self.failures.update(conn.failures)


def record(env: EventEnvelope | bytes | None, offset: int, partition: int = 0,
           topic: str = "t.course") -> dict[str, Any]:
    raw = env if isinstance(env, bytes | type(None)) else env.model_dump_json().encode()
    return {"topic": topic, "partition": partition, "offset": offset, "timestamp": 0,
            "timestampType": "CREATE_TIME", "key": base64.b64encode(b"k").decode(),
            "value": base64.b64encode(raw).decode() if raw is not None else None,
            "headers": [{"id": list(b"abc")}]}


def msk(*records: dict[str, Any]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault(f"{r['topic']}-{r['partition']}", []).append(r)
    return {"eventSource": "aws:kafka", "eventSourceArn": "arn", "bootstrapServers": "b", "records": grouped}


def ev(n: int = 0, agg: str = "a") -> EventEnvelope:
    return new_event("course.tested", agg, {"n": n})


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


def effect(conn: Any, env: EventEnvelope) -> None:
    if env.data.get("fail"):
        raise RuntimeError("handler refuses")
    conn.effects.append(str(env.id))


def consumer(db: FakeDatabase, **kw: Any) -> Consumer:
    return Consumer("c1", lambda: db, {"course.tested": effect}, schema="lms", **kw)  # type: ignore[arg-type,return-value]


def failed(resp: dict[str, Any]) -> list[tuple[str, int]]:
    return [(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in resp["batchItemFailures"]]


def test_a_duplicate_delivery_has_no_second_effect(db: FakeDatabase) -> None:
    e1, e2 = ev(1), ev(2)
    c = consumer(db)
    # Given the same event twice in one batch, then the whole batch again
    first = c.run(msk(record(e1, 0), record(e2, 1), record(e1, 2)))
    second = c.run(msk(record(e1, 0), record(e2, 1)))
    # Then each effect happened once, and the duplicates were counted
    assert db.effects == [str(e1.id), str(e2.id)]
    assert (first.processed, first.duplicates) == (2, 1)
    assert (second.processed, second.duplicates) == (0, 2)
    assert first.failures == second.failures == []


def test_a_failure_reports_the_record_and_every_later_record_of_its_partition_only(db: FakeDatabase) -> None:
    bad = new_event("course.tested", "a", {"n": 2, "fail": True})
    after, other = ev(3), ev(9, "b")
    resp = consumer(db).handle(msk(record(ev(1), 10), record(bad, 11), record(after, 12),
                                   record(other, 5, partition=1)))
    # Then the failed record and the later one of partition 0 are reported; partition 1 went on
    assert failed(resp) == [("t.course-0", 11), ("t.course-0", 12)]
    assert str(after.id) not in db.effects  # not run: order within the partition holds
    assert str(other.id) in db.effects
    # And the failed handler's transaction left no processed_events row: a retry runs it again
    assert ("c1", str(bad.id)) not in db.processed


@pytest.mark.parametrize("raw", [b"not json", b'{"id": "x"}', None], ids=["garbage", "not-an-envelope", "tombstone"])
def test_a_poison_record_is_reported_failed(db: FakeDatabase, raw: bytes | None) -> None:
    resp = consumer(db).handle(msk(record(raw, 7), record(ev(), 8)))
    assert failed(resp) == [("t.course-0", 7), ("t.course-0", 8)]
    assert db.failures[("c1", "t.course", 0, 7)]["error_type"] == "PoisonRecord"


def test_a_record_failing_max_attempts_times_is_dead_lettered_with_its_reason_and_the_partition_goes_on(
        db: FakeDatabase) -> None:
    letters: list[DeadLetter] = []
    c = consumer(db, max_attempts=2, dead_letter=letters.append)
    later = ev(5)
    batch = msk(record(b"garbage", 7), record(later, 8))
    # When the batch is delivered: the first attempt fails and is reported
    assert failed(c.handle(batch)) == [("t.course-0", 7), ("t.course-0", 8)]
    assert letters == []
    # And redelivered: the second failure reaches max_attempts -> dead-lettered, the rest is processed
    assert failed(c.handle(batch)) == []
    assert db.effects == [str(later.id)]
    (letter,) = letters
    assert (letter.topic, letter.partition, letter.offset, letter.attempts) == ("t.course", 0, 7, 2)
    assert letter.value == b"garbage" and letter.key == b"k"
    headers = dict(letter.dead_letter_headers())
    assert headers["x-error-type"] == b"PoisonRecord"
    assert b"not a valid event envelope" in headers["x-failure-reason"]
    assert headers["x-consumer"] == b"c1" and headers["x-source-offset"] == b"7"
    assert headers["id"] == b"abc"  # the original headers travel along
    assert db.failures[("c1", "t.course", 0, 7)].get("dead") is True
    # And if that invocation failed afterwards and the batch comes again, it is not sent twice
    assert failed(c.handle(batch)) == []
    assert len(letters) == 1


def test_when_the_dead_letter_sink_fails_the_record_stays_failed(db: FakeDatabase) -> None:
    def broken_sink(letter: DeadLetter) -> None:
        raise ConnectionError("dlq unreachable")

    c = consumer(db, max_attempts=1, dead_letter=broken_sink)
    assert failed(c.handle(msk(record(b"garbage", 3)))) == [("t.course-0", 3)]


def test_events_without_a_handler_are_skipped_not_recorded(db: FakeDatabase) -> None:
    other = new_event("enrollment.created", "e", {})
    result = consumer(db).run(msk(record(other, 0)))
    assert (result.skipped, result.processed, db.processed) == (1, 0, set())


def test_consumer_rejects_a_bad_schema_or_attempt_count() -> None:
    with pytest.raises(ValueError):
        Consumer("c", lambda: None, {}, schema="public")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError):
        Consumer("c", lambda: None, {}, schema="lms", max_attempts=0)  # type: ignore[arg-type,return-value]


def test_parse_keeps_the_envelope_fields() -> None:
    e = ev(4)
    c_db = FakeDatabase()
    seen: list[EventEnvelope] = []
    Consumer("c", lambda: c_db, {"course.tested": lambda conn, env: seen.append(env)},  # type: ignore[arg-type,return-value]
             schema="lms").run(msk(record(e, 0)))
    assert seen == [e]
    assert json.loads(seen[0].model_dump_json())["data"] == {"n": 4}
    assert isinstance(seen[0].id, uuid.UUID)


class Outage:
    """A handler whose dependency is out for the first `failures` calls."""

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.left = failures
        self.calls = 0
        self.exc = exc or DependencyUnavailable("database unavailable")

    def __call__(self, conn: Any, env: EventEnvelope) -> None:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise self.exc
        conn.effects.append(str(env.id))


def outage_consumer(db: FakeDatabase, handler: Outage, **kw: Any) -> Consumer:
    return Consumer("c1", lambda: db, {"course.tested": handler}, schema="lms",  # type: ignore[arg-type,return-value]
                    transient_backoff_s=0.001, **kw)


def test_a_dependency_outage_is_waited_out_within_the_invocation_not_counted_toward_the_dead_letter(
        db: FakeDatabase) -> None:
    # Given a handler whose database is out for its first 3 tries, and a consumer that dead-letters
    # after 2 failed attempts
    handler = Outage(3)
    letters: list[DeadLetter] = []
    c = outage_consumer(db, handler, transient_wait_s=5, max_attempts=2, dead_letter=letters.append)
    e = ev(1)
    # When the record is delivered once
    result = c.run(msk(record(e, 0)))
    # Then the invocation retried it until the dependency came back: done, once, nothing failed
    assert (result.processed, result.transient_retries, result.failures) == (1, 3, [])
    assert db.effects == [str(e.id)] and handler.calls == 4
    assert letters == [] and db.failures == {}


def test_an_exception_class_marked_transient_is_waited_out_too() -> None:
    from smartcourse.certificates.domain import RenderError, StorageError
    from smartcourse.consumer import is_transient

    assert is_transient(StorageError("s3 down")) and is_transient(DependencyUnavailable("db down"))
    assert not is_transient(RenderError("no font")) and not is_transient(RuntimeError("bug"))


def test_without_a_wait_budget_or_past_it_the_record_is_reported_failed(db: FakeDatabase) -> None:
    # Given no wait budget (the default): the first outage fails the record, as before
    assert failed(outage_consumer(db, Outage(1)).handle(msk(record(ev(1), 4)))) == [("t.course-0", 4)]
    # And with a budget the outage outlasts, the record is reported failed for the mapping to retry
    handler = Outage(10_000)
    resp = outage_consumer(db, handler, transient_wait_s=0.05).handle(msk(record(ev(2), 5)))
    assert failed(resp) == [("t.course-0", 5)] and handler.calls > 1


def test_the_wait_never_runs_into_the_invocation_deadline(db: FakeDatabase) -> None:
    handler = Outage(10_000)
    c = outage_consumer(db, handler, transient_wait_s=60)
    # Given only 4 s left in the invocation (under TRANSIENT_SAFETY_MS): no wait at all
    resp = c.handle(msk(record(ev(1), 6)), remaining_ms=lambda: 4_000)
    assert failed(resp) == [("t.course-0", 6)] and handler.calls == 1


def test_a_permanent_error_is_not_retried_within_the_invocation(db: FakeDatabase) -> None:
    handler = Outage(1, RuntimeError("a bug"))
    resp = outage_consumer(db, handler, transient_wait_s=5).handle(msk(record(ev(1), 7)))
    assert failed(resp) == [("t.course-0", 7)] and handler.calls == 1


def test_a_value_that_is_not_base64_is_a_poison_record_and_dead_lettered_as_delivered(db: FakeDatabase) -> None:
    letters: list[DeadLetter] = []
    c = consumer(db, max_attempts=1, dead_letter=letters.append)
    broken = {**record(ev(1), 7), "value": "not base64!"}
    later = ev(2)
    # a record that cannot be decoded fails alone (the batch is still listed), then is dead-lettered
    resp = c.handle(msk(broken, record(later, 8)))
    assert failed(resp) == []
    assert db.effects == [str(later.id)]
    (letter,) = letters
    assert letter.value == b"not base64!"  # what arrived, kept
    assert dict(letter.dead_letter_headers())["x-error-type"] == b"PoisonRecord"
    assert db.failures[("c1", "t.course", 0, 7)]["error_type"] == "PoisonRecord"


def test_malformed_headers_make_a_poison_record(db: FakeDatabase) -> None:
    broken = {**record(ev(1), 7), "headers": [{"traceparent": "text, not bytes"}]}
    resp = consumer(db).handle(msk(broken))
    assert failed(resp) == [("t.course-0", 7)]
    assert db.failures[("c1", "t.course", 0, 7)]["error_type"] == "PoisonRecord"
