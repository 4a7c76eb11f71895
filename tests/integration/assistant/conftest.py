"""Two published courses with confusable content, indexed through the real ingestion path,
plus a draft upload indexed but never published (it must never be served)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from smartcourse.ai.assets import asset_key, parse_asset_key
from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.assistant.bootstrap import build_service
from smartcourse.assistant.service import AssistantService
from smartcourse.assistant.settings import AssistantSettings
from smartcourse.auth import Principal
from smartcourse.db import Database, register_pgvector
from testkit.courses import (
    MemoryObjects,
    SeededCourse,
    create_course,
    create_user,
    enroll,
    index_course,
    ingestion_service,
)
from tests.integration.assistant.materials import COURSE_A, COURSE_B, DRAFT


@dataclass
class World:
    db: Database
    a: SeededCourse
    b: SeededCourse
    draft_asset: uuid.UUID
    learner_a: Principal
    learner_b: Principal
    outsider: Principal
    cancelled: Principal
    instructor: Principal
    admin: Principal


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def world(database_url: str, embedder: MiniLMEmbedder) -> Iterator[World]:
    db = Database(database_url, application_name="assistant-tests", configure=register_pgvector)
    objects = MemoryObjects()
    ingestion = ingestion_service(database_url, objects, embedder)
    instructor = create_user(db, "instructor")
    other_instructor = create_user(db, "instructor")
    a = create_course(db, objects, instructor, "The Moon", COURSE_A)
    b = create_course(db, objects, other_instructor, "Mars and its moons", COURSE_B)
    for course in (a, b):
        outcome = index_course(db, ingestion, course)
        assert outcome.switched and outcome.live_assets == len(course.materials), outcome
    # A draft asset of course A, uploaded and indexed (S3 path), never part of a published version.
    draft_asset = uuid.uuid4()
    key = asset_key(a.course_id, draft_asset, "draft.md")
    objects.put(key, DRAFT, "text/markdown")
    with db.transaction() as conn:
        conn.execute("INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, "
                     "created_by) VALUES (%s, %s, 'draft.md', 'text/markdown', %s, %s, %s)",
                     (draft_asset, a.course_id, len(DRAFT), key, instructor))
    draft = ingestion.ingest_object(parse_asset_key(key), source="s3")
    assert draft.status == "ready", draft
    learner_a, learner_b = create_user(db, "student"), create_user(db, "student")
    outsider, cancelled = create_user(db, "student"), create_user(db, "student")
    enroll(db, learner_a, a)
    enroll(db, learner_b, b)
    enroll(db, cancelled, a, status="cancelled")
    admin = create_user(db, "admin")
    yield World(db, a, b, draft_asset, Principal(learner_a, "student"), Principal(learner_b, "student"),
                Principal(outsider, "student"), Principal(cancelled, "student"),
                Principal(instructor, "instructor"), Principal(admin, "admin"))
    ingestion.database.close()
    db.close()


def make_service(world: World, embedder: MiniLMEmbedder, **overrides: Any) -> AssistantService:
    """An extractive-mode service (no Groq key) unless overrides say otherwise."""
    values: dict[str, Any] = {"database_url": world.db.url, "jwt_secret": "x" * 32, "groq_api_key": None,
                              "groq_api_key_secret_arn": None, **overrides}
    settings = AssistantSettings(**values)
    return build_service(settings, embedder=embedder, database=world.db)


@pytest.fixture
def service(world: World, embedder: MiniLMEmbedder) -> AssistantService:
    return make_service(world, embedder, ask_rate_limit_per_minute=1000, search_rate_limit_per_minute=1000)
