"""Honest assistant states on real pgvector, through the real ingestion path: a question asked
right after publish (assets ready, version not live yet) is never told "not covered"; while a new
version is indexed the previous live version answers; once live, off-topic questions are
"not_covered". The LMS publish is written directly (as testkit/courses does) and the AI
side's `IngestionService.publish` (what `course.published` runs) is called when the test says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from psycopg.types.json import Jsonb

from smartcourse.ai.assets import asset_key, parse_asset_key
from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.ai.ingestion import IngestionService
from smartcourse.assistant import domain
from smartcourse.assistant.service import AssistantService
from smartcourse.auth import Principal
from testkit.courses import (
    Material,
    MemoryObjects,
    SeededCourse,
    create_course,
    create_user,
    enroll,
    index_course,
    ingestion_service,
)
from tests.integration.assistant.conftest import World
from tests.integration.assistant.materials import COURSE_A

pytestmark = pytest.mark.integration

ORBIT = "How long does the Moon take to orbit the Earth?"
ECLIPSE = "What happens during a total solar eclipse?"
OFF_TOPIC = "What is a good recipe for sourdough bread?"
ECLIPSES = Material("eclipses.md", "text/markdown", b"""# Eclipses

## Solar eclipses

During a total solar eclipse the Moon passes between the Sun and the Earth and hides the Sun's disc.
The sky darkens and the solar corona becomes visible for a few minutes along the path of totality.
""", "Eclipses")


@dataclass
class Setup:
    objects: MemoryObjects
    ingestion: IngestionService


@pytest.fixture(scope="module")
def setup(world: World, embedder: MiniLMEmbedder) -> Iterator[Setup]:
    objects = MemoryObjects()
    ingestion = ingestion_service(world.db.url, objects, embedder)
    yield Setup(objects, ingestion)
    ingestion.database.close()


def _ingest_uploads(setup: Setup, course: SeededCourse, filenames: list[str] | None = None) -> None:
    """The S3 path: each upload indexed (document `ready`), no live switch."""
    for name, asset_id in course.asset_ids.items():
        if filenames is None or name in filenames:
            key = next(k for k in setup.objects.objects if str(asset_id) in k)
            assert setup.ingestion.ingest_object(parse_asset_key(key), source="s3").status == "ready"


def _publish_version_2(world: World, setup: Setup, course: SeededCourse, extra: Material) -> None:
    """The LMS publishes version 2 with one more document lesson (no AI-side work)."""
    asset_id, lesson_id = uuid.uuid4(), uuid.uuid4()
    key = asset_key(course.course_id, asset_id, extra.filename)
    setup.objects.put(key, extra.data, extra.content_type)
    with world.db.transaction() as conn:
        v1 = conn.execute("SELECT snapshot FROM lms.course_versions WHERE course_id = %s AND version = 1",
                          (course.course_id,)).fetchone()
        assert v1 is not None
        snapshot = v1["snapshot"]
        module = snapshot["modules"][0]
        conn.execute("INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, created_by) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (asset_id, course.course_id, extra.filename, extra.content_type, len(extra.data), key,
                      course.instructor_id))
        position = len(module["lessons"])
        conn.execute("INSERT INTO lms.lessons (id, module_id, course_id, title, kind, asset_id, position) "
                     "VALUES (%s, %s, %s, %s, 'document', %s, %s)",
                     (lesson_id, module["module_id"], course.course_id, extra.lesson_title, asset_id, position))
        module["lessons"].append({"lesson_id": str(lesson_id), "module_id": module["module_id"],
                                  "title": extra.lesson_title, "kind": "document", "required": True, "body": None,
                                  "asset_id": str(asset_id), "position": position})
        snapshot["assets"].append({"asset_id": str(asset_id), "s3_key": key, "filename": extra.filename,
                                   "content_type": extra.content_type, "size_bytes": len(extra.data)})
        snapshot["version"] = 2
        conn.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) "
                     "VALUES (%s, 2, %s, %s)", (course.course_id, Jsonb(snapshot), course.instructor_id))
        conn.execute("UPDATE lms.courses SET published_version = 2 WHERE id = %s", (course.course_id,))
    course.asset_ids[extra.filename] = asset_id
    course.lesson_ids[asset_id] = lesson_id
    course.materials.append(extra)
    course.version = 2


def _stored_reason(world: World, message_id: str) -> object:
    with world.db.transaction() as conn:
        row = conn.execute("SELECT refused, retrieval FROM ai.messages WHERE id = %s",
                           (uuid.UUID(message_id),)).fetchone()
    assert row is not None
    return row["retrieval"]["reason"]


def test_right_after_publish_the_assistant_says_indexing_never_not_covered(
        world: World, setup: Setup, service: AssistantService) -> None:
    # Given a course whose version 1 is published and whose uploads are `ready`, not yet live
    course = create_course(world.db, setup.objects, world.instructor.user_id, "The Moon (fresh)", COURSE_A)
    _ingest_uploads(setup, course)
    learner = Principal(create_user(world.db, "student"), "student")
    enroll(world.db, learner.user_id, course)
    status = service.status(learner, course.course_id)
    assert status == {"live_version": None, "latest_version": 1, "state": "indexing",
                      "documents": {"ready": 2, "processing": 0, "failed": 0}}
    # When learners ask, covered or not
    for question in (ORBIT, OFF_TOPIC):
        body = service.ask(learner, course.course_id, question).body
        # Then the answer is the "being prepared" refusal, never "not covered"
        assert body["refused"] is True and body["reason"] == "indexing", body
        assert body["answer"] == domain.REFUSAL_INDEXING and body["citations"] == []
        assert _stored_reason(world, body["message_id"]) == "indexing"
    # And search has nothing yet, and says why
    assert service.search(learner, course.course_id, "Moon orbit") == {"items": [], "state": "indexing"}

    # When the AI side makes the version live, the same question is answered
    assert index_course(world.db, setup.ingestion, course).switched
    body = service.ask(learner, course.course_id, ORBIT).body
    assert body["refused"] is False and body["reason"] is None and "27.3 days" in body["answer"]
    assert service.status(learner, course.course_id)["state"] == "live"


def test_while_a_new_version_is_indexed_the_previous_live_version_answers(
        world: World, setup: Setup, service: AssistantService) -> None:
    # Given a course with version 1 live and version 2 (one more document) published, not live
    course = create_course(world.db, setup.objects, world.instructor.user_id, "The Moon (v2)", COURSE_A)
    assert index_course(world.db, setup.ingestion, course).switched
    learner = Principal(create_user(world.db, "student"), "student")
    enroll(world.db, learner.user_id, course)
    _publish_version_2(world, setup, course, ECLIPSES)
    # Then the status says indexing: version 1 live, version 2 latest, the new upload not indexed yet
    assert service.status(learner, course.course_id) == {
        "live_version": 1, "latest_version": 2, "state": "indexing",
        "documents": {"ready": 2, "processing": 1, "failed": 0}}
    # And a question version 1 covers is answered from version 1
    body = service.ask(learner, course.course_id, ORBIT).body
    assert body["refused"] is False and body["reason"] is None and "27.3 days" in body["answer"], body
    v1_assets = {str(course.asset_ids["moon.md"]), str(course.asset_ids["surface.md"])}
    assert {c["asset_id"] for c in body["citations"]} <= v1_assets
    # And a question only the new material covers is "indexing", not "not covered"
    body = service.ask(learner, course.course_id, ECLIPSE).body
    assert body["refused"] is True and body["reason"] == "indexing", body
    assert body["answer"] == domain.REFUSAL_NEWER_VERSION_INDEXING
    # And search serves version 1 meanwhile
    found = service.search(learner, course.course_id, "Tycho crater")
    assert found["state"] == "indexing" and found["items"]

    # When version 2 goes live (its new upload indexed on the way)
    assert index_course(world.db, setup.ingestion, course).switched
    status = service.status(learner, course.course_id)
    assert status == {"live_version": 2, "latest_version": 2, "state": "live",
                      "documents": {"ready": 3, "processing": 0, "failed": 0}}
    # Then the new material answers, and an off-topic question is "not covered"
    body = service.ask(learner, course.course_id, ECLIPSE).body
    assert body["refused"] is False and str(course.asset_ids["eclipses.md"]) in {
        c["asset_id"] for c in body["citations"]}, body
    body = service.ask(learner, course.course_id, OFF_TOPIC).body
    assert body["refused"] is True and body["reason"] == "not_covered" and body["answer"] == domain.REFUSAL
    assert _stored_reason(world, body["message_id"]) == "not_covered"
    assert service.search(learner, course.course_id, "solar corona")["state"] == "live"


def test_a_course_never_published_is_not_indexed_and_refused_as_not_published(
        world: World, setup: Setup, service: AssistantService) -> None:
    course = create_course(world.db, setup.objects, world.instructor.user_id, "Draft moon", COURSE_A, publish=False)
    assert service.status(world.instructor, course.course_id) == {
        "live_version": None, "latest_version": None, "state": "not_indexed",
        "documents": {"ready": 0, "processing": 0, "failed": 0}}
    body = service.ask(world.instructor, course.course_id, ORBIT).body
    assert body["refused"] is True and body["reason"] == "not_published"


def test_a_failed_document_is_counted_as_failed(world: World, setup: Setup, service: AssistantService) -> None:
    broken = Material("broken.pdf", "application/pdf", b"%PDF-1.4 this is not really a PDF", "Broken")
    course = create_course(world.db, setup.objects, world.instructor.user_id, "Moon with a broken PDF",
                           [*COURSE_A, broken])
    outcome = index_course(world.db, setup.ingestion, course)
    assert outcome.switched
    assert service.status(world.instructor, course.course_id) == {
        "live_version": 1, "latest_version": 1, "state": "live",
        "documents": {"ready": 2, "processing": 0, "failed": 1}}


def test_status_is_for_enrolled_learners_the_instructor_and_admins(world: World, service: AssistantService) -> None:
    from smartcourse.errors import Forbidden, NotFound

    for who in (world.learner_a, world.instructor, world.admin):
        assert service.status(who, world.a.course_id)["state"] == "live"
    for who in (world.outsider, world.cancelled, world.learner_b):
        with pytest.raises(Forbidden):
            service.status(who, world.a.course_id)
    with pytest.raises(NotFound):
        service.status(world.admin, uuid.uuid4())
