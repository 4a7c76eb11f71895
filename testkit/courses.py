"""Courses with indexed materials, built through the REAL ingestion path (for the assistant's
integration tests, its evaluation and its benchmark).

LMS rows (users, a course, its assets, one module of lessons, the published version's snapshot,
enrollments) are written directly: the LMS API is not what these measure. The materials are then
indexed by `IngestionService.publish` (extract -> chunk -> embed -> binary COPY -> live switch),
reading the files from an in-memory object store that answers HEAD/GET like S3.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from smartcourse.ai.assets import ObjectInfo, PublishedAsset, asset_key
from smartcourse.ai.ingestion import DocumentPipeline, IngestionService, PublishOutcome
from smartcourse.ai.objects import ObjectMissing
from smartcourse.db import Database, register_pgvector


class MemoryObjects:
    """An ObjectStore over a dict: key -> (bytes, content type)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    def head(self, key: str) -> ObjectInfo:
        if key not in self.objects:
            raise ObjectMissing(key)
        data, ctype = self.objects[key]
        return ObjectInfo(size=len(data), content_type=ctype, etag=hashlib.md5(data).hexdigest())

    def get(self, key: str) -> bytes:
        if key not in self.objects:
            raise ObjectMissing(key)
        return self.objects[key][0]


@dataclass(frozen=True)
class Material:
    filename: str
    content_type: str
    data: bytes
    lesson_title: str


@dataclass
class SeededCourse:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    version: int
    asset_ids: dict[str, uuid.UUID] = field(default_factory=dict)   # filename -> asset
    lesson_ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # asset -> lesson
    materials: list[Material] = field(default_factory=list)


def create_user(db: Database, role: str, name: str = "") -> uuid.UUID:
    uid = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute("INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, 'x', %s, %s)",
                     (uid, f"{role}-{uid.hex[:12]}@example.com", name or f"{role} {uid.hex[:6]}", role))
    return uid


def enroll(db: Database, user_id: uuid.UUID, course: SeededCourse, status: str = "active") -> uuid.UUID:
    eid = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute("INSERT INTO lms.enrollments (id, user_id, course_id, course_version, status) "
                     "VALUES (%s, %s, %s, %s, %s)", (eid, user_id, course.course_id, course.version, status))
    return eid


def create_course(db: Database, objects: MemoryObjects, instructor_id: uuid.UUID, title: str,
                  materials: Sequence[Material], *, publish: bool = True) -> SeededCourse:
    """A course with one document lesson per material; version 1 published if `publish`."""
    course = SeededCourse(uuid.uuid4(), instructor_id, 1, materials=list(materials))
    module_id = uuid.uuid4()
    lessons: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    with db.transaction() as conn:
        conn.execute("INSERT INTO lms.courses (id, instructor_id, title) VALUES (%s, %s, %s)",
                     (course.course_id, instructor_id, title))
        conn.execute("INSERT INTO lms.modules (id, course_id, title, position) VALUES (%s, %s, 'Materials', 0)",
                     (module_id, course.course_id))
        for pos, m in enumerate(materials):
            asset_id, lesson_id = uuid.uuid4(), uuid.uuid4()
            key = asset_key(course.course_id, asset_id, m.filename)
            objects.put(key, m.data, m.content_type)
            conn.execute("INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, "
                         "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (asset_id, course.course_id, m.filename, m.content_type, len(m.data), key, instructor_id))
            conn.execute("INSERT INTO lms.lessons (id, module_id, course_id, title, kind, asset_id, position) "
                         "VALUES (%s, %s, %s, %s, 'document', %s, %s)",
                         (lesson_id, module_id, course.course_id, m.lesson_title, asset_id, pos))
            course.asset_ids[m.filename] = asset_id
            course.lesson_ids[asset_id] = lesson_id
            lessons.append({"lesson_id": str(lesson_id), "module_id": str(module_id), "title": m.lesson_title,
                            "kind": "document", "required": True, "body": None, "asset_id": str(asset_id),
                            "position": pos})
            assets.append({"asset_id": str(asset_id), "s3_key": key, "filename": m.filename,
                           "content_type": m.content_type, "size_bytes": len(m.data)})
        if publish:
            snapshot = {"course_id": str(course.course_id), "version": 1, "title": title, "description": "",
                        "modules": [{"module_id": str(module_id), "title": "Materials", "position": 0,
                                     "lessons": lessons}],
                        "assets": assets}
            conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                         "VALUES (%s, 1, %s, %s)", (course.course_id, Jsonb(snapshot), instructor_id))
            conn.execute("UPDATE lms.courses SET status = 'published', published_version = 1 WHERE id = %s",
                         (course.course_id,))
    return course


def published_assets(db: Database, course: SeededCourse) -> list[PublishedAsset]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, s3_key, filename, content_type, size_bytes FROM lms.assets "
                            "WHERE course_id = %s ORDER BY created_at, id", (course.course_id,)).fetchall()
    return [PublishedAsset(asset_id=r["id"], s3_key=r["s3_key"], filename=r["filename"],
                           content_type=r["content_type"], size_bytes=r["size_bytes"]) for r in rows]


def index_course(db: Database, ingestion: IngestionService, course: SeededCourse) -> PublishOutcome:
    """What `course.published` does in IngestFunction: index every asset, switch the live sets."""
    with db.transaction() as conn:
        return ingestion.publish(conn, course.course_id, course.version, published_assets(db, course))


def ingestion_service(db_url: str, objects: MemoryObjects, embedder: Any) -> IngestionService:
    database = Database(db_url, configure=register_pgvector, application_name="fixture-ingest")
    return IngestionService(database, objects, DocumentPipeline(embedder), max_bytes=50 * 1024 * 1024)
