"""Fixtures for certificate tests on this session's real Postgres, moto S3 and (for the API) the
Chalice app in-process. LMS facts are seeded with plain SQL, as the API would leave them."""

from __future__ import annotations

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

from smartcourse.events import EventEnvelope, new_event


@dataclass(frozen=True)
class Completion:
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    learner_name: str
    course_title: str
    instructor_name: str
    completed_at: datetime

    def event(self) -> EventEnvelope:
        """The `course.completed` the API writes (aggregate enrollment, key = enrollment id)."""
        return new_event("course.completed", self.enrollment_id,
                         {"enrollment_id": str(self.enrollment_id), "course_id": str(self.course_id),
                          "course_version": 1, "user_id": str(self.user_id),
                          "completed_at": self.completed_at.isoformat()},
                         correlation_id="test-" + secrets.token_hex(4), aggregate_type="enrollment")


def insert_user(conn: psycopg.Connection[Any], name: str, role: str = "student") -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', %s, %s)",
                 (uid, f"{role}-{uid.hex[:10]}@example.com", name, role))
    return uid


def seed_completion(conn: psycopg.Connection[Any], learner_name: str = "Zoë Ångström",
                    course_title: str | None = None, instructor_name: str = "Dr. Ada Lovelace",
                    completed: bool = True) -> Completion:
    instructor = insert_user(conn, instructor_name, "instructor")
    learner = insert_user(conn, learner_name)
    course, enrollment = uuid.uuid4(), uuid.uuid4()
    title = course_title or f"Databases {secrets.token_hex(2)}"
    conn.execute("INSERT INTO lms.courses (id, instructor_id, title, status, published_version) "
                 "VALUES (%s, %s, %s, 'published', 1)", (course, instructor, title))
    # a snapshot of the shape publishing writes (other tests share the database and read it: the
    # fuzzer's GET /courses/{id} answered 500 on the '{}' this used to insert)
    module, lesson = str(uuid.uuid4()), str(uuid.uuid4())
    snapshot = {"course_id": str(course), "version": 1, "title": title, "description": "", "assets": [],
                "modules": [{"module_id": module, "title": "Basics", "position": 0, "lessons": [
                    {"lesson_id": lesson, "module_id": module, "title": "Intro", "kind": "text", "required": True,
                     "body": "Welcome.", "asset_id": None, "position": 0}]}]}
    conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                 "VALUES (%s, 1, %s, %s)", (course, json.dumps(snapshot), instructor))
    at = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    conn.execute("INSERT INTO lms.enrollments (id, user_id, course_id, course_version, status, completed_at) "
                 "VALUES (%s, %s, %s, 1, %s, %s)",
                 (enrollment, learner, course, "completed" if completed else "active", at if completed else None))
    return Completion(enrollment, learner, course, learner_name, title, instructor_name, at)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def bucket(in_process_env: dict[str, str], provisioned: Any) -> str:
    return in_process_env["CERTIFICATES_BUCKET"]


@pytest.fixture
def s3(in_process_env: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=in_process_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def outbox(conn: psycopg.Connection[Any], event_type: str, **where: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT aggregate_type, aggregate_id, correlation_id, payload FROM lms.outbox "
                        "WHERE event_type = %s ORDER BY seq", (event_type,)).fetchall()
    return [r for r in rows if all(r["payload"]["data"].get(k) == v for k, v in where.items())]


def certificates(conn: psycopg.Connection[Any], enrollment_id: uuid.UUID) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM lms.certificates WHERE enrollment_id = %s", (enrollment_id,)).fetchall()


def topic(env: dict[str, str]) -> str:
    return f"{env['TOPIC_PREFIX']}.enrollment"


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
