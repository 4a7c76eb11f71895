"""course.completed -> one certificate: PDF in the private bucket, a row with its snapshot, one
certificate.issued in the outbox; however often or concurrently the event arrives; S3 and render
failures leave nothing behind."""

from __future__ import annotations

import io
import socket
import threading
import uuid
from typing import Any

import psycopg
import pytest
from pypdf import PdfReader

from smartcourse.certificates.domain import certificate_key, code_for_issuance
from smartcourse.certificates.objects import S3CertificateStore
from smartcourse.certificates.render import PdfRenderer
from smartcourse.certificates.service import issue_for_completion
from smartcourse.consumer import Consumer
from smartcourse.container import reset_all
from smartcourse.db import Database
from smartcourse.events import EventEnvelope
from testkit.msk import msk_event
from tests.conftest import load_function_module
from tests.integration.certificates.conftest import certificates, outbox, seed_completion, topic

pytestmark = pytest.mark.integration
PUBLIC = "https://smartcourse.example.com"
RENDERER = PdfRenderer()


class Ctx:
    function_name = "CertificatesFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CertificatesFunction"
    aws_request_id = "req-1"


def consumer_for(database_url: str, store: Any) -> tuple[Consumer, Database]:
    database = Database(database_url)

    def on_completed(conn: psycopg.Connection[Any], envelope: EventEnvelope) -> None:
        issue_for_completion(conn, envelope, renderer=RENDERER, store=store, public_base_url=PUBLIC)

    return Consumer("certificates", lambda: database, {"course.completed": on_completed}, schema="lms"), database


@pytest.fixture
def app(in_process_env: dict[str, str], provisioned: Any) -> Any:
    module = load_function_module("certificates")
    reset_all()
    return module


def test_a_completion_issues_one_certificate_with_the_printed_facts(
        app: Any, db: psycopg.Connection[Any], s3: Any, bucket: str, in_process_env: dict[str, str]) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    # Given a completed enrollment and its course.completed event on the enrollment topic
    done = seed_completion(db, learner_name="Zoë Ångström-王")
    event = done.event()
    # When the function receives it as the MSK mapping delivers it
    result = app.handler(msk_event([event], topic(in_process_env)), Ctx())
    # Then nothing failed and exactly one certificate exists, with the printed facts as its snapshot
    assert result == {"batchItemFailures": []}
    [row] = certificates(db, done.enrollment_id)
    code = code_for_issuance(event.id)
    base = in_process_env["PUBLIC_BASE_URL"].rstrip("/")
    assert row["code"] == code and row["user_id"] == done.user_id and row["course_id"] == done.course_id
    assert row["snapshot"] == {"learner_name": "Zoë Ångström-王", "course_title": done.course_title,
                               "instructor_name": "Dr. Ada Lovelace", "completed_on": "2026-11-26",
                               "course_version": 1, "code": code, "verify_url": f"{base}/certificates/{code}"}
    assert row["s3_key"] == certificate_key(code) and row["revoked_at"] is None
    # And the PDF is in the certificates bucket under that key, and reads back
    obj = s3.get_object(Bucket=bucket, Key=row["s3_key"])
    assert obj["ContentType"] == "application/pdf"
    page = PdfReader(io.BytesIO(obj["Body"].read())).pages[0]
    text = page.extract_text()
    for printed in ("Zoë Ångström-王", done.course_title, "Dr. Ada Lovelace", "2026-11-26", code):
        assert printed in text
    assert [b.text for img in page.images for b in zxingcpp.read_barcodes(img.image)] == \
        [f"{base}/certificates/{code}"]
    # And one certificate.issued went to the outbox, keyed by the certificate, with the correlation id
    [issued] = outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=str(done.enrollment_id))
    assert issued["aggregate_type"] == "certificate" and issued["aggregate_id"] == str(row["id"])
    assert issued["correlation_id"] == event.correlation_id
    assert issued["payload"]["data"]["code"] == code and issued["payload"]["data"]["s3_key"] == row["s3_key"]


def test_duplicate_deliveries_and_a_second_event_give_one_certificate_and_one_issued_event(
        app: Any, db: psycopg.Connection[Any], in_process_env: dict[str, str]) -> None:
    done = seed_completion(db)
    event = done.event()
    t = topic(in_process_env)
    # the same record three times in a batch, then redelivered, then a second completion event
    assert app.handler(msk_event([event, event, event], t, first_offset=10), Ctx()) == {"batchItemFailures": []}
    assert app.handler(msk_event([event], t, first_offset=10), Ctx()) == {"batchItemFailures": []}
    assert app.handler(msk_event([done.event()], t, first_offset=13), Ctx()) == {"batchItemFailures": []}
    [row] = certificates(db, done.enrollment_id)
    assert row["code"] == code_for_issuance(event.id)
    assert len(outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=str(done.enrollment_id))) == 1


def test_concurrent_deliveries_from_separate_connections_give_one_certificate(
        database_url: str, db: psycopg.Connection[Any], s3: Any, bucket: str) -> None:
    # Given one completion, delivered at once by 6 consumers with their own connections: three
    # carry the same event, three carry a second event id for the same enrollment
    done = seed_completion(db)
    first, second = done.event(), done.event()
    store = S3CertificateStore(s3, bucket)
    workers = [consumer_for(database_url, store) for _ in range(6)]
    barrier = threading.Barrier(len(workers))
    outcomes: list[Any] = [None] * len(workers)

    def deliver(i: int) -> None:
        consumer, _ = workers[i]
        barrier.wait()
        try:
            outcomes[i] = consumer.process_envelope(first if i % 2 == 0 else second)
        except Exception as exc:  # recorded: the assertion below shows it
            outcomes[i] = exc

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(workers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for _, database in workers:
        database.close()
    # Then every delivery succeeded, one per event id did the work (the others were duplicates)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(outcomes) == [False, False, False, False, True, True]
    # And there is one certificate, one certificate.issued, and one PDF (the winner's code)
    [row] = certificates(db, done.enrollment_id)
    assert len(outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=str(done.enrollment_id))) == 1
    keys = {certificate_key(code_for_issuance(e.id)) for e in (first, second)}
    stored = {k for k in keys if s3.list_objects_v2(Bucket=bucket, Prefix=k).get("KeyCount")}
    assert stored == {row["s3_key"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_s3_unavailable_rolls_everything_back_and_the_retry_issues_once(
        database_url: str, db: psycopg.Connection[Any], s3: Any, bucket: str) -> None:
    import boto3
    from botocore.config import Config

    done = seed_completion(db)
    event = done.event()
    down = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{closed_port()}", region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    # When S3 cannot be reached the record is reported failed and nothing is left behind
    failing, failing_db = consumer_for(database_url, S3CertificateStore(down, bucket))
    record = msk_event([event], f"t{uuid.uuid4().hex[:8]}.enrollment")
    result = failing.run(record)
    assert len(result.failures) == 1 and result.processed == 0
    assert certificates(db, done.enrollment_id) == []
    assert outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=str(done.enrollment_id)) == []
    assert db.execute("SELECT count(*) AS n FROM lms.processed_events WHERE event_id = %s",
                      (event.id,)).fetchone()["n"] == 0
    # And when the mapping retries with S3 back, exactly one certificate is issued
    working, working_db = consumer_for(database_url, S3CertificateStore(s3, bucket))
    assert working.run(record).processed == 1
    assert len(certificates(db, done.enrollment_id)) == 1
    assert len(outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=str(done.enrollment_id))) == 1
    failing_db.close()
    working_db.close()


def test_a_put_whose_commit_was_lost_is_overwritten_by_the_retry_under_the_same_key(
        database_url: str, db: psycopg.Connection[Any], s3: Any, bucket: str) -> None:
    done = seed_completion(db)
    event = done.event()
    store = S3CertificateStore(s3, bucket)
    key = certificate_key(code_for_issuance(event.id))

    class CommitLost(Exception):
        pass

    # Given an attempt that stored the PDF but whose transaction never committed
    database = Database(database_url)
    with pytest.raises(CommitLost), database.transaction() as conn:
        issue_for_completion(conn, event, renderer=RENDERER, store=store, public_base_url=PUBLIC)
        raise CommitLost
    first_put = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    assert certificates(db, done.enrollment_id) == []
    # When the retry runs
    with database.transaction() as conn:
        issue_for_completion(conn, event, renderer=RENDERER, store=store, public_base_url=PUBLIC)
    database.close()
    # Then it has the same code and key: the object was overwritten, not duplicated
    [row] = certificates(db, done.enrollment_id)
    assert row["s3_key"] == key and s3.head_object(Bucket=bucket, Key=key)["LastModified"] >= first_put
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 1


@pytest.mark.parametrize("case", ["unrenderable_name", "unknown_enrollment", "not_completed", "bad_enrollment_id"])
def test_permanent_problems_fail_the_record_and_leave_nothing(
        case: str, database_url: str, db: psycopg.Connection[Any], s3: Any, bucket: str) -> None:
    if case == "unrenderable_name":
        event = seed_completion(db, learner_name="Linear B \U00010000").event()
        expected = "RenderError"
    elif case == "not_completed":
        event = seed_completion(db, completed=False).event()
        expected = "NotCompleted"
    else:
        done = seed_completion(db)
        event = done.event()
        bad = str(uuid.uuid4()) if case == "unknown_enrollment" else "not-a-uuid"
        event = event.model_copy(update={"data": {**event.data, "enrollment_id": bad}})
        expected = "EnrollmentNotFound" if case == "unknown_enrollment" else "InvalidCompletionEvent"
    consumer, database = consumer_for(database_url, S3CertificateStore(s3, bucket))
    result = consumer.run(msk_event([event], f"t{uuid.uuid4().hex[:8]}.enrollment"))
    database.close()
    assert len(result.failures) == 1 and result.processed == 0
    assert db.execute("SELECT count(*) AS n FROM lms.certificates c JOIN lms.enrollments e "
                      "ON e.id = c.enrollment_id WHERE e.id::text = %s",
                      (event.data["enrollment_id"] if case != "bad_enrollment_id" else event.aggregate_id,)
                      ).fetchone()["n"] == 0
    assert outbox(db, "smartcourse.certificate.issued.v1", enrollment_id=event.data["enrollment_id"]) == []
    has_ledger = db.execute("SELECT to_regclass('lms.consumer_failures') IS NOT NULL AS ok").fetchone()["ok"]
    if has_ledger:  # the consumer framework's failure ledger keeps the reason
        [failure] = db.execute("SELECT error_type, last_error FROM lms.consumer_failures WHERE event_id = %s",
                               (event.id,)).fetchall()
        assert failure["error_type"] == expected


def test_each_record_is_an_xray_subsegment_annotated_with_its_event_and_enrollment(
        app: Any, db: psycopg.Connection[Any], in_process_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import socket

    # Given a sampled invocation in AWS: the X-Ray daemon's address and the invocation's trace header
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(5)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    done = seed_completion(db, learner_name="Ada")
    event = done.event()
    try:
        # When the function handles the course.completed record
        assert app.handler(msk_event([event], topic(in_process_env)), Ctx()) == {"batchItemFailures": []}
        # Then the record's subsegment reached the daemon, searchable by event type and enrollment
        _, _, body = daemon.recv(65536).decode().partition("\n")
    finally:
        daemon.close()
    doc = json.loads(body)
    assert doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" and doc["type"] == "subsegment"
    assert doc["annotations"]["event_type"] == "course.completed"
    assert doc["annotations"]["enrollment_id"] == str(done.enrollment_id)
    assert doc["annotations"]["event_id"] == str(event.id)
