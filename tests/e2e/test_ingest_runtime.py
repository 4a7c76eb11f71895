"""Through the local runtime (template.yaml wiring, worker processes): an upload to the stage's
assets bucket becomes ready, searchable chunks with no manual step, and a course.published on
Kafka makes them the course's live chunks."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from devstack.runtime import LocalRuntime, RuntimeOptions
from smartcourse.db import register_pgvector
from testkit import index
from testkit.polling import eventually
from tests.integration.ingest import documents as docs

pytestmark = pytest.mark.e2e
DEADLINE_S = 240.0  # generous: the first invocation starts a worker and loads the model


@pytest.fixture
def runtime(template: Any, function_env: dict[str, str], provisioned: Any, stack_endpoints: Any,
            stage: str) -> Iterator[LocalRuntime]:
    from devstack.stack import aws_clients

    _, sqs = aws_clients(stack_endpoints.aws_endpoint_url)
    rt = LocalRuntime(template, function_env,
                      RuntimeOptions(http=False, schedules=False, only_functions={"IngestFunction"}),
                      stage=stage, kafka_bootstrap=stack_endpoints.kafka_bootstrap_servers, sqs=sqs,
                      s3_queues=provisioned)
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


def test_an_upload_becomes_live_searchable_chunks(runtime: LocalRuntime, database_url: str, stage: str,
                                                   stack_endpoints: Any) -> None:
    from devstack.stack import aws_clients

    s3, _ = aws_clients(stack_endpoints.aws_endpoint_url)
    page = docs.manual_page("tutorial-transactions.html")
    data = docs.markdown(page.title, [("Transactions", page.paragraphs[:3])])
    course, asset = uuid.uuid4(), uuid.uuid4()
    key = f"courses/{course}/assets/{asset}/Week 3 transactions.md"  # a space: URL-encoded in the event
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        register_pgvector(db)
        user = uuid.uuid4()
        db.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', 'I', "
                   "'instructor')", (user, f"e2e-{secrets.token_hex(4)}@example.com"))
        db.execute("INSERT INTO lms.courses (id, instructor_id, title) VALUES (%s, %s, 'E2E course')", (course, user))
        db.execute("INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, created_by) "
                   "VALUES (%s, %s, 'Week 3 transactions.md', 'text/markdown', %s, %s, %s)",
                   (asset, course, len(data), key, user))

        # Given an instructor's upload to the stage's bucket (S3 -> SQS -> IngestFunction)
        s3.put_object(Bucket=f"smartcourse-{stage}-assets-123456789012", Key=key, Body=data,
                      ContentType="text/markdown")

        # Then the asset becomes ready with stored, embedded chunks
        def status() -> str | None:
            row = db.execute("SELECT status FROM ai.asset_index_status WHERE asset_id = %s", (asset,)).fetchone()
            return row["status"] if row and row["status"] in ("ready", "failed") else None

        assert eventually("the asset to be indexed", status, timeout=DEADLINE_S, every=0.5) == "ready"
        n = db.execute("SELECT count(*) AS n FROM ai.chunks WHERE asset_id = %s", (asset,)).fetchone()["n"]
        assert n >= 1

        # When the course is published (course.published on Kafka -> IngestFunction)
        assert runtime.wait_for_consumers(60)
        envelope = {
            "id": str(uuid.uuid4()), "type": "smartcourse.course.published.v1", "aggregate_type": "course",
            "aggregate_id": str(course), "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": "e2e",
            "data": {"course_id": str(course), "version": 1, "title": "E2E course", "instructor_id": str(user),
                     "published_at": datetime.now(UTC).isoformat(), "lessons": [],
                     "assets": [{"asset_id": str(asset), "s3_key": key, "filename": "Week 3 transactions.md",
                                 "content_type": "text/markdown", "size_bytes": len(data)}]},
        }
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=stack_endpoints.kafka_bootstrap_servers)
        producer.send(f"smartcourse.{stage}.course", key=str(course).encode(), value=json.dumps(envelope).encode())
        producer.flush(30)
        producer.close()

        # Then a search within the course finds the uploaded text
        hits = eventually("the version to go live",
                          lambda: index.search_live_text(db, course, "transaction savepoint OR atomic"),
                          timeout=DEADLINE_S, every=0.5)
        assert {h.asset_id for h in hits} == {asset}
