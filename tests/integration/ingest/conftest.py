"""Fixtures for ingestion tests: the IngestFunction handler in-process, on this session's real
Postgres (+pgvector) and moto S3; LMS rows written as the LMS would write them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import load_function_module


class FakeContext:
    function_name = "IngestFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/IngestFunction"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class Asset:
    id: uuid.UUID
    course_id: uuid.UUID
    key: str
    filename: str
    content_type: str


class IngestEnv:
    def __init__(self, app: Any, s3: Any, bucket: str, db: psycopg.Connection[Any], prefix: str) -> None:
        self.app = app
        self.s3 = s3
        self.bucket = bucket
        self.db = db
        self.topic_prefix = prefix
        self._instructor: uuid.UUID | None = None

    # ------------------------------------------------------------ LMS side (as the API writes it)

    def instructor(self) -> uuid.UUID:
        if self._instructor is None:
            uid = uuid.uuid4()
            self.db.execute(
                "INSERT INTO lms.users (id, email, password_hash, name, role) "
                "VALUES (%s, %s, 'x', 'Ina', 'instructor')",
                (uid, f"ina-{secrets.token_hex(4)}@example.com"))
            self._instructor = uid
        return self._instructor

    def course(self) -> uuid.UUID:
        cid = uuid.uuid4()
        self.db.execute("INSERT INTO lms.courses (id, instructor_id, title) VALUES (%s, %s, %s)",
                        (cid, self.instructor(), "Course " + secrets.token_hex(3)))
        return cid

    def declare(self, course_id: uuid.UUID, filename: str, content_type: str, size: int) -> Asset:
        aid = uuid.uuid4()
        key = f"courses/{course_id}/assets/{aid}/{filename}"
        self.db.execute(
            "INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (aid, course_id, filename, content_type, size, key, self.instructor()))
        return Asset(aid, course_id, key, filename, content_type)

    def redeclare_size(self, asset: Asset, size: int) -> None:
        self.db.execute("UPDATE lms.assets SET size_bytes = %s WHERE id = %s", (size, asset.id))

    # ------------------------------------------------------------ S3 and events

    def put(self, asset: Asset, data: bytes, content_type: str | None = None) -> str:
        resp = self.s3.put_object(Bucket=self.bucket, Key=asset.key, Body=data,
                                  ContentType=content_type or asset.content_type)
        return str(resp["ETag"]).strip('"')

    def s3_event(self, name: str, key: str, size: int = 0, etag: str = "") -> dict[str, Any]:
        return {"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": datetime.now(UTC).isoformat(), "eventName": name,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": self.bucket},
                   "object": {"key": _s3_quote(key), "size": size, "eTag": etag,
                              "sequencer": secrets.token_hex(8).upper()}},
        }]}

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.app.handler(event, FakeContext())

    def upload(self, course_id: uuid.UUID, filename: str, data: bytes, content_type: str, *,
               declared_size: int | None = None, object_type: str | None = None) -> tuple[Asset, Any]:
        """Declare the asset in the LMS, put the object, deliver the S3 notification."""
        asset = self.declare(course_id, filename, content_type, declared_size or len(data))
        etag = self.put(asset, data, object_type)
        return asset, self.invoke(self.s3_event("ObjectCreated:Post", asset.key, len(data), etag))

    def envelope(self, name: str, aggregate_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "type": f"smartcourse.{name}.v1", "aggregate_type": name.split(".")[0],
                "aggregate_id": str(aggregate_id), "occurred_at": datetime.now(UTC).isoformat(),
                "correlation_id": "test-" + secrets.token_hex(4), "data": data}

    def msk_event(self, *envelopes: dict[str, Any]) -> dict[str, Any]:
        records: dict[str, list[dict[str, Any]]] = {}
        for offset, env in enumerate(envelopes):
            topic = f"{self.topic_prefix}.{env['aggregate_type']}"
            records.setdefault(f"{topic}-0", []).append({
                "topic": topic, "partition": 0, "offset": offset, "timestamp": 0, "timestampType": "CREATE_TIME",
                "key": base64.b64encode(env["aggregate_id"].encode()).decode(),
                "value": base64.b64encode(json.dumps(env).encode()).decode(), "headers": [],
            })
        return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:local", "records": records}

    def published(self, course_id: uuid.UUID, version: int, assets: list[Asset]) -> dict[str, Any]:
        return self.envelope("course.published", course_id, {
            "course_id": str(course_id), "version": version, "title": "T", "instructor_id": str(self.instructor()),
            "published_at": datetime.now(UTC).isoformat(),
            "assets": [{"asset_id": str(a.id), "s3_key": a.key, "filename": a.filename,
                        "content_type": a.content_type, "size_bytes": 1} for a in assets],
            "lessons": [],
        })

    # ------------------------------------------------------------ reading the AI side

    def documents(self, asset_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.db.execute("SELECT * FROM ai.documents WHERE asset_id = %s ORDER BY created_at",
                               (asset_id,)).fetchall()

    def status(self, asset_id: uuid.UUID) -> dict[str, Any] | None:
        return self.db.execute("SELECT * FROM ai.asset_index_status WHERE asset_id = %s", (asset_id,)).fetchone()

    def chunks(self, asset_id: uuid.UUID) -> list[dict[str, Any]]:
        """The chunks of the asset's current ready document, in order."""
        return self.db.execute(
            "SELECT c.* FROM ai.chunks c JOIN ai.documents d ON d.chunk_set_id = c.chunk_set_id "
            "WHERE d.id = (SELECT id FROM ai.documents WHERE asset_id = %s AND status <> 'deleted' "
            "              ORDER BY last_seen_at DESC, created_at DESC LIMIT 1) ORDER BY c.ordinal",
            (asset_id,)).fetchall()

    def live(self, course_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        rows = self.db.execute("SELECT asset_id, chunk_set_id FROM ai.live_chunk_sets WHERE course_id = %s",
                               (course_id,)).fetchall()
        return {r["asset_id"]: r["chunk_set_id"] for r in rows}


def _s3_quote(key: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(key, safe="/")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def ingest(in_process_env: dict[str, str], provisioned: Any, database_url: str,
           stack_endpoints: Any) -> Iterator[IngestEnv]:
    from devstack.stack import aws_clients

    app = load_function_module("ingest")
    s3, _ = aws_clients(stack_endpoints.aws_endpoint_url)
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        yield IngestEnv(app, s3, in_process_env["ASSETS_BUCKET"], conn, in_process_env["TOPIC_PREFIX"])
