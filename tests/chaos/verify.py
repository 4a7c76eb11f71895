"""After the run: wait until the system settles (no manual step), then count, from the database,
the Kafka topics (a fresh reader from the beginning), S3 and SQS, what was committed, delivered,
duplicated, lost, and what the consumers did."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.chaos.faults import COMPLETED, INGEST_TYPES, SUPERSEDED_PUBLISH, backlog
from tests.chaos.stack import PrivateStack
from tests.chaos.workload import WorkloadResult


def consumer_lag(stack: PrivateStack) -> dict[str, int]:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap, client_id="chaos-lag")
    reader = KafkaConsumer(bootstrap_servers=stack.bootstrap, client_id="chaos-lag-reader")
    try:
        out = {}
        for name, suffixes in (("ingest", ("course", "asset")), ("certificates", ("enrollment",)),
                               ("notifications", ("enrollment", "course", "certificate"))):
            group = f"smartcourse-{stack.stage}-{name}"
            topics = [f"{stack.prefix}.{s}" for s in suffixes]
            parts = [TopicPartition(t, p) for t in topics for p in (reader.partitions_for_topic(t) or ())]
            ends = reader.end_offsets(parts)
            committed = admin.list_group_offsets({group: None}).get(group) or {}
            out[name] = sum(max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in parts)
        return out
    finally:
        reader.close()
        admin.close()


def queue_depth(stack: PrivateStack) -> int:
    n = 0
    for url in stack.queues.values():
        attrs = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        n += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return n


def settle(stack: PrivateStack, assets: list[str], *, timeout_s: float, stall_s: float = 120.0,
           log: Callable[[str], None] = print, superseded_ok: bool = False) -> tuple[bool, float]:
    """Wait until the outbox is drained, the consumers caught up (lag 0), the S3 queues empty and
    every upload indexed. Gives up after `timeout_s`, or when nothing moved for `stall_s` while
    every queue is empty (work that can no longer happen: lost)."""
    started = time.monotonic()
    last_state: Any = None
    last_change = started
    last_log = 0.0
    while time.monotonic() - started < timeout_s:
        try:
            with psycopg.connect(stack.database_url, connect_timeout=3) as conn:
                row = conn.execute("SELECT coalesce(max(seq), 0), count(*) FILTER (WHERE published_at IS NULL), "
                                   "count(*) FILTER (WHERE parked_at IS NOT NULL) FROM lms.outbox").fetchone()
                assert row is not None
                max_seq, pending, parked = int(row[0]), int(row[1]), int(row[2])
                todo = backlog(conn, max_seq, assets, superseded_ok=superseded_ok)
            lag = consumer_lag(stack)
            depth = queue_depth(stack)
        except Exception as exc:  # a service still coming back: keep waiting
            log(f"  settle: probe failed ({type(exc).__name__}), retrying")
            time.sleep(2)
            continue
        state = (max_seq, pending, todo, tuple(sorted(lag.items())), depth)
        if state != last_state:
            last_state, last_change = state, time.monotonic()
        if time.monotonic() - last_log > 5:
            last_log = time.monotonic()
            log(f"  settle {time.monotonic() - started:5.0f}s: outbox pending {pending} (parked {parked}), "
                f"backlog {todo}, consumer lag {lag}, s3 queue {depth}")
        if pending == parked and todo == 0 and not any(lag.values()) and depth == 0:
            return True, time.monotonic() - started
        idle = pending == parked and not any(lag.values()) and depth == 0
        if idle and time.monotonic() - last_change > stall_s:
            log(f"  settle: nothing moved for {stall_s:.0f}s with every queue empty: giving up")
            return False, time.monotonic() - started
        time.sleep(1)
    return False, time.monotonic() - started


def read_topics(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record of `topics`, from the beginning, with a fresh consumer group."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=f"chaos-verify-{secrets.token_hex(4)}",
                             enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=5000)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[Any] = []
        deadline = time.monotonic() + 300
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError("reading the topics back took over 300 s")
            for recs in consumer.poll(timeout_ms=1000).values():
                out.extend(recs)
        return out
    finally:
        consumer.close()


@dataclass
class Report:
    rows: list[tuple[str, Any, str]] = field(default_factory=list)  # (what, value, verdict/explanation)
    problems: list[str] = field(default_factory=list)

    def add(self, what: str, value: Any, note: str = "", *, must_be: Any = None) -> None:
        if must_be is not None and value != must_be:
            self.problems.append(f"{what}: {value} (must be {must_be}) {note}".strip())
            note = f"FAIL (must be {must_be}) {note}".strip()
        self.rows.append((what, value, note))

    @property
    def ok(self) -> bool:
        return not self.problems


def count(stack: PrivateStack, workload: WorkloadResult, report: Report, *,
          dead_letters_expected: bool = False) -> None:
    """The counts. ``dead_letters_expected`` (the long S3 outage): dead letters are reported, not
    failures, but there must be some (else the outage did not outlast the waits and proved nothing);
    every other count (nothing lost, every effect once) holds as always."""
    db = stack.database_url
    with psycopg.connect(db) as conn:
        committed: dict[str, str] = dict(conn.execute(
            "SELECT id::text, event_type FROM lms.outbox UNION ALL SELECT id::text, event_type FROM lms.outbox_archive"
        ).fetchall())
        parked = conn.execute("SELECT count(*) FROM lms.outbox WHERE parked_at IS NOT NULL").fetchone()
        by_type = Counter(committed.values())
        cert_processed = {r[0] for r in conn.execute(
            "SELECT event_id::text FROM lms.processed_events WHERE consumer = 'certificates'")}
        ingest_processed = {r[0] for r in conn.execute(
            "SELECT event_id::text FROM ai.processed_events WHERE consumer = 'ingest'")}
        superseded = {r[0] for r in conn.execute(
            "SELECT o.id::text FROM lms.outbox o WHERE " + SUPERSEDED_PUBLISH)}
        completed_enrollments = {r[0] for r in conn.execute(
            "SELECT id::text FROM lms.enrollments WHERE status = 'completed'")}
        certs = conn.execute("SELECT enrollment_id::text, s3_key, id::text FROM lms.certificates").fetchall()
        notify_processed = {r[0] for r in conn.execute(
            "SELECT event_id::text FROM notify.processed_events WHERE consumer = 'notifications'")}
        enrolled = [r[0] for r in conn.execute(
            "SELECT payload->'data'->>'enrollment_id' FROM lms.outbox WHERE event_type = "
            "'smartcourse.enrollment.created.v1' UNION ALL SELECT payload->'data'->>'enrollment_id' "
            "FROM lms.outbox_archive WHERE event_type = 'smartcourse.enrollment.created.v1'")]
        notes = Counter(r[0] for r in conn.execute(
            "SELECT type || ' ' || dedupe_key FROM notify.notifications "
            "WHERE type IN ('enrollment_confirmed', 'certificate_issued')"))
        emails_per_note = conn.execute(
            "SELECT count(*) FROM (SELECT notification_id FROM notify.emails WHERE notification_id IS NOT NULL "
            "GROUP BY 1 HAVING count(*) > 1) x").fetchone()
        email_status = dict(conn.execute("SELECT status, count(*) FROM notify.emails GROUP BY 1").fetchall())
        issued_events = Counter(r[0] for r in conn.execute(
            "SELECT payload->'data'->>'certificate_id' FROM lms.outbox WHERE event_type = "
            "'smartcourse.certificate.issued.v1'"))
        live = conn.execute(
            "SELECT count(*) FILTER (WHERE l.version IS DISTINCT FROM c.published_version), count(*) "
            "FROM lms.courses c LEFT JOIN ai.course_live_versions l ON l.course_id = c.id "
            "WHERE c.published_version IS NOT NULL").fetchone()
        docs = {r[0]: r[1:] for r in conn.execute(
            "SELECT a.id::text, count(d.*) FILTER (WHERE d.status = 'ready'), "
            "count(d.*) FILTER (WHERE d.status IN ('uploaded', 'processing')), "
            "count(d.*) FILTER (WHERE d.status = 'failed'), "
            "(SELECT count(*) FROM ai.chunk_sets s WHERE s.asset_id = a.id), "
            "(SELECT count(*) FROM ai.chunk_sets s WHERE s.asset_id = a.id AND s.chunk_count <> "
            "   (SELECT count(*) FROM ai.chunks k WHERE k.chunk_set_id = s.id)) "
            "FROM unnest(%s::uuid[]) a(id) LEFT JOIN ai.documents d ON d.asset_id = a.id GROUP BY a.id",
            ([u.asset_id for u in workload.uploads],))}
        failures = conn.execute(
            "SELECT consumer, error_type, count(*), sum(attempts), count(dead_lettered_at) FROM ("
            " SELECT * FROM lms.consumer_failures UNION ALL SELECT * FROM ai.consumer_failures) f "
            "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()

    topics = [f"{stack.prefix}.{t}" for t in ("course", "enrollment", "asset", "certificate", "user")]
    records = read_topics(stack.bootstrap, topics)
    seen = Counter(json.loads(r.value)["id"] for r in records)
    dlq = read_topics(stack.bootstrap, [f"{stack.prefix}.dlq"])

    report.add("events committed (lms.outbox rows)", len(committed))
    for t, n in sorted(by_type.items()):
        report.add(f"  {t}", n)
    report.add("outbox rows parked (unpublishable)", int(parked[0]) if parked else 0, must_be=0)
    report.add("records on the topics (fresh consumer group, from the beginning)", len(records))
    delivered = set(seen) & set(committed)
    report.add("events delivered (distinct ids of committed events)", len(delivered))
    report.add("events lost (committed, never on a topic)", len(set(committed) - set(seen)), must_be=0)
    report.add("unknown ids on the topics (not in the outbox)", len(set(seen) - set(committed)), must_be=0)
    dup = sum(n - 1 for n in seen.values() if n > 1)
    report.add("duplicates on the topics (same id again; at-least-once allows it)", dup,
               f"{sum(1 for n in seen.values() if n > 1)} ids")
    dead_letters = len(dlq)
    report.add("records on the dead-letter topic", len(dlq), _dlq_reasons(dlq),
               must_be=None if dead_letters_expected else 0)

    completed_ids = {i for i, t in committed.items() if t == COMPLETED}
    ingest_ids = {i for i, t in committed.items() if t in INGEST_TYPES}
    report.add("course.completed never processed by CertificatesFunction", len(completed_ids - cert_processed),
               must_be=0)
    unprocessed = ingest_ids - ingest_processed
    if dead_letters_expected:
        report.add("course.published dead-lettered, superseded by a newer live version (no work left)",
                   len(unprocessed & superseded))
        unprocessed -= superseded
    report.add("course.published/asset.deleted never processed by IngestFunction", len(unprocessed), must_be=0)
    notify_types = {"smartcourse.enrollment.created.v1", "smartcourse.certificate.issued.v1"}
    notify_ids = {i for i, t in committed.items() if t in notify_types}
    report.add("enrollment.created/certificate.issued never processed by NotificationsFunction",
               len(notify_ids - notify_processed), must_be=0)  # it uses no S3: no outage excuses a loss
    report.add("enrolments without exactly one in-app notification",
               sum(1 for e in enrolled if notes.get(f"enrollment_confirmed enrollment:{e}") != 1), must_be=0)
    report.add("certificates without exactly one in-app notification",
               sum(1 for _, _, cid in certs if notes.get(f"certificate_issued certificate:{cid}") != 1), must_be=0)
    report.add("notifications with more than one email", int(emails_per_note[0]) if emails_per_note else -1,
               must_be=0)
    report.add("notification emails by status", sum(email_status.values()), json.dumps(email_status, sort_keys=True))
    per_enrollment = Counter(e for e, _, _ in certs)
    report.add("completed enrollments (db)", len(completed_enrollments))
    report.add("completions the client saw that the db does not have", len(workload.completed - completed_enrollments),
               must_be=0)
    report.add("certificates issued", len(certs))
    report.add("completed enrollments without a certificate", len(completed_enrollments - set(per_enrollment)),
               must_be=0)
    report.add("enrollments with more than one certificate", sum(1 for n in per_enrollment.values() if n > 1),
               must_be=0)
    report.add("certificates with != 1 certificate.issued event",
               sum(1 for _, _, cid in certs if issued_events.get(cid, 0) != 1), must_be=0)
    keys = _bucket_keys(stack, stack.bucket("certificates"))
    cert_keys = {k for _, k, _ in certs}
    report.add("certificate PDFs missing in S3", len(cert_keys - keys), must_be=0)
    report.add("extra PDFs in S3 (a second render stored)", len(keys - cert_keys), must_be=0)
    report.add("courses whose live AI version != published version", int(live[0]) if live else -1,
               f"of {int(live[1]) if live else 0} courses", must_be=0)

    report.add("uploads (presigned POST, through the fault proxy)", len(workload.uploads))
    ready1 = sum(1 for v in docs.values() if v[0] == 1)
    report.add("uploads with exactly 1 ready document", ready1, must_be=len(workload.uploads))
    report.add("uploads with a document stuck uploaded/processing", sum(1 for v in docs.values() if v[1]), must_be=0)
    report.add("uploads with a failed document", sum(1 for v in docs.values() if v[2]), must_be=0)
    report.add("uploads with != 1 chunk set (double indexing)", sum(1 for v in docs.values() if v[3] != 1), must_be=0)
    report.add("chunk sets whose chunk count is wrong", sum(v[4] for v in docs.values()), must_be=0)
    sqs_dead = _dlq_depth(stack)
    report.add("S3 notifications dead-lettered (SQS DLQ)", sqs_dead,
               "re-driven by the ingest sweep" if dead_letters_expected else "",
               must_be=None if dead_letters_expected else 0)
    if dead_letters_expected and dead_letters + sqs_dead == 0:
        report.problems.append("no dead letter: the S3 outage did not outlast the waits, the sweeps were not tested")
    for consumer, error_type, records_failed, attempts, dead in failures:
        report.add(f"consumer failures survived: {consumer} {error_type}", int(records_failed),
                   f"{int(attempts)} failed attempts, {int(dead)} dead-lettered by the consumer")


def _dlq_reasons(records: list[Any]) -> str:
    reasons: Counter[str] = Counter()
    for r in records:
        h = {k: v.decode(errors="replace") for k, v in r.headers or []}
        reasons[f"{h.get('x-function') or h.get('x-consumer')}: {h.get('x-failure-reason', '')[:80]}"] += 1
    return "; ".join(f"{n}x {why}" for why, n in reasons.most_common(3))


def _bucket_keys(stack: PrivateStack, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def _dlq_depth(stack: PrivateStack) -> int:
    n = 0
    for url in stack.queues.values():
        name = url.rsplit("/", 1)[-1]
        dlq = stack.sqs.get_queue_url(QueueName=f"{name}-dlq"[:80])["QueueUrl"]  # as devstack.provision names it
        attrs = stack.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        n += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return n
