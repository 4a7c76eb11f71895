"""Reconciliation (IngestFunction's Schedule event): a lost trigger is made good by the sweep,
and the late original trigger then has no second effect.

Real Postgres + moto S3 + the real pipeline, through the handler as EventBridge invokes it. The
rows each test plays with are backdated by hours and the grace period set between their age and
the session's other rows' age, so the sweep only sees this test's lost triggers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from smartcourse.ai.assets import AssetKey, ObjectInfo, parse_asset_key
from smartcourse.ai.bootstrap import build_sweeper
from smartcourse.ai.ingestion import IngestSettings
from smartcourse.container import Container
from smartcourse.errors import DependencyUnavailable
from smartcourse.events import EventEnvelope
from smartcourse.outbox import write_event
from smartcourse.settings import load_settings
from tests.integration.ingest.conftest import Asset, IngestEnv

pytestmark = pytest.mark.integration

MD = "text/markdown"
HOURS = 3600
SCHEDULED = {"version": "0", "id": "sweep-test", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-11-26T11:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/IngestFunction-Reconcile"], "detail": {}}
TEXT = (b"# Vacuum\n\nVACUUM reclaims storage occupied by dead tuples. In normal PostgreSQL operation, tuples that "
        b"are deleted or obsoleted by an update are not physically removed from their table.\n\n## Analyze\n\n"
        b"ANALYZE collects statistics about the contents of tables in the database. ")


@pytest.fixture
def sweep(ingest: IngestEnv, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Run one sweep as the schedule does. Rows older than 5 h count as lost (grace 5 h), rows
    younger than 20 h are in the asset window; a document processing for 5 h is stuck."""

    def run(**overrides: Any) -> dict[str, Any]:
        env = {"SWEEP_GRACE_S": 5 * HOURS, "SWEEP_ASSET_WINDOW_S": 20 * HOURS, "SWEEP_STUCK_AFTER_S": 5 * HOURS,
               "SWEEP_MAX_ATTEMPTS": 3, "SWEEP_BATCH": 100, **overrides}
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        # the sweep reads these settings, with the service (and any outage a test put on it) kept
        load_settings.cache_clear()
        built = ingest.app.deps()
        settings = load_settings(IngestSettings)
        sweeper = build_sweeper(built.service(), lambda: built.events_database, settings)
        monkeypatch.setattr(ingest.app, "deps", lambda: replace(built, settings=settings,
                                                                sweeper=Container(lambda: sweeper)))
        result: dict[str, Any] = ingest.invoke(SCHEDULED)
        return result

    return run


def backdate_asset(env: IngestEnv, asset: Asset, hours: float = 10) -> None:
    env.db.execute("UPDATE lms.assets SET created_at = now() - make_interval(hours => %s) WHERE id = %s",
                   (hours, asset.id))


def backdate_processing(env: IngestEnv, asset: Asset, hours: float = 10) -> None:
    env.db.execute("UPDATE ai.documents SET started_at = now() - make_interval(hours => %s) "
                   "WHERE asset_id = %s AND status = 'processing'", (hours, asset.id))


def chunk_sets(env: IngestEnv, asset_id: uuid.UUID) -> int:
    return int(env.db.execute("SELECT count(*) AS n FROM ai.chunk_sets WHERE asset_id = %s",
                              (asset_id,)).fetchone()["n"])


def lost_upload(env: IngestEnv, name: str = "vacuum.md") -> tuple[Asset, str]:
    """Declared in the LMS and put in S3, but its notification never delivered (dead-lettered)."""
    asset = env.declare(env.course(), name, MD, len(TEXT))
    etag = env.put(asset, TEXT)
    return asset, etag


# ------------------------------------------------------------------ a) lost uploads


def test_an_upload_whose_notification_was_lost_is_indexed_once_even_when_the_notification_comes_late(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    # Given an upload whose S3 notification was lost, declared 10 h ago
    asset, etag = lost_upload(ingest)
    backdate_asset(ingest, asset)
    # While it is younger than the grace period, the sweep leaves it to its notification
    sweep(SWEEP_GRACE_S=11 * HOURS)
    assert ingest.documents(asset.id) == []
    # When the sweep runs past the grace period
    result = sweep()
    # Then the asset is indexed by the ingestion service: one ready document, one chunk set
    assert result["assets"].get("indexed", 0) >= 1, result
    [document] = ingest.documents(asset.id)
    assert (document["status"], document["source"], document["etag"]) == ("ready", "sweeper", etag)
    assert chunk_sets(ingest, asset.id) == 1 and ingest.chunks(asset.id)
    # And when the original notification arrives late, it is a duplicate: nothing is added
    late = ingest.invoke(ingest.s3_event("ObjectCreated:Post", asset.key, len(TEXT), etag))
    assert late["duplicates"] == 1 and late["indexed"] == 0
    assert len(ingest.documents(asset.id)) == 1 and chunk_sets(ingest, asset.id) == 1
    # And the next sweep does not look at it again
    again = sweep()
    assert again["assets"].get("indexed", 0) == 0
    assert len(ingest.documents(asset.id)) == 1


def test_a_declared_asset_without_an_object_is_remembered_and_indexed_once_its_object_exists(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    asset = ingest.declare(ingest.course(), "later.md", MD, len(TEXT))
    backdate_asset(ingest, asset)
    result = sweep()
    assert result["assets"].get("object_missing", 0) >= 1
    assert ingest.documents(asset.id) == []
    check = ingest.db.execute("SELECT checks, last_result FROM ai.sweeper_asset_checks WHERE asset_id = %s",
                              (asset.id,)).fetchone()
    assert check == {"checks": 1, "last_result": "object_missing"}
    ingest.put(asset, TEXT)  # the object arrives (its notification lost too)
    sweep()  # checked within the grace period: not looked at again yet
    assert ingest.documents(asset.id) == []
    ingest.db.execute("UPDATE ai.sweeper_asset_checks SET last_checked_at = now() - interval '6 hours' "
                      "WHERE asset_id = %s", (asset.id,))
    sweep()
    [document] = ingest.documents(asset.id)
    assert document["status"] == "ready"


def test_deleted_and_too_old_assets_are_not_swept(ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    deleted, _ = lost_upload(ingest, "deleted.md")
    backdate_asset(ingest, deleted)
    ingest.db.execute("UPDATE lms.assets SET deleted_at = now() WHERE id = %s", (deleted.id,))
    ancient, _ = lost_upload(ingest, "ancient.md")
    backdate_asset(ingest, ancient, hours=30)  # outside the 20 h window
    sweep()
    assert ingest.documents(deleted.id) == [] and ingest.documents(ancient.id) == []


# ------------------------------------------------------------------ b) stuck documents


class BrokenGet:
    """The assets bucket answers HEAD but every GET fails: the processing never finishes."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.gets = 0

    def head(self, key: str) -> ObjectInfo:
        info: ObjectInfo = self.real.head(key)
        return info

    def get(self, key: str) -> bytes:
        self.gets += 1
        raise DependencyUnavailable(f"S3 unavailable: EndpointConnectionError ({key})")


def interrupted(ingest: IngestEnv, monkeypatch: pytest.MonkeyPatch) -> tuple[Asset, AssetKey, BrokenGet]:
    """An upload whose processing was interrupted (status processing, started 10 h ago)."""
    svc = ingest.app.service()
    asset, _ = lost_upload(ingest, "stuck.md")
    broken = BrokenGet(svc.objects)
    monkeypatch.setattr(svc, "objects", broken)
    key = parse_asset_key(asset.key)
    with pytest.raises(DependencyUnavailable):
        svc.ingest_object(key, source="s3")
    [document] = ingest.documents(asset.id)
    assert document["status"] == "processing"
    backdate_processing(ingest, asset)
    return asset, key, broken


def test_a_document_stuck_processing_is_restarted_and_finishes_once(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    asset, _, broken = interrupted(ingest, monkeypatch)
    monkeypatch.setattr(ingest.app.service(), "objects", broken.real)  # S3 is back
    result = sweep()
    assert result["stuck_restarted"] >= 1 and result["stuck_recovered"] >= 1, result
    [document] = ingest.documents(asset.id)
    assert (document["status"], document["sweeper_attempts"], document["attempts"]) == ("ready", 1, 2)
    assert chunk_sets(ingest, asset.id) == 1
    # the notification's retry arriving after that is a duplicate
    etag = document["etag"]
    late = ingest.invoke(ingest.s3_event("ObjectCreated:Post", asset.key, len(TEXT), etag))
    assert late["duplicates"] == 1 and len(ingest.documents(asset.id)) == 1 and chunk_sets(ingest, asset.id) == 1


def test_a_document_that_keeps_being_interrupted_is_failed_with_a_readable_reason(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    asset, _, broken = interrupted(ingest, monkeypatch)
    for attempt in (1, 2):  # two restarts, both interrupted by the outage
        result = sweep(SWEEP_MAX_ATTEMPTS=2)
        assert result["stuck_restarted"] >= 1
        [document] = ingest.documents(asset.id)
        assert (document["status"], document["sweeper_attempts"]) == ("processing", attempt)
        assert "EndpointConnectionError" in document["sweeper_last_error"]
        backdate_processing(ingest, asset)
    result = sweep(SWEEP_MAX_ATTEMPTS=2)
    assert result["stuck_failed"] >= 1
    [document] = ingest.documents(asset.id)
    assert document["status"] == "failed" and document["error_code"] == "processing_interrupted"
    assert document["error"].startswith("processing was interrupted 3 times; last error: DependencyUnavailable: "
                                        "S3 unavailable: EndpointConnectionError")
    status = ingest.status(asset.id)
    assert status is not None and status["status"] == "failed"  # what the LMS asset listing shows
    assert broken.gets == 3
    # a stuck document younger than the bound is left alone
    fresh, _, _ = interrupted(ingest, monkeypatch)
    ingest.db.execute("UPDATE ai.documents SET started_at = now() WHERE asset_id = %s", (fresh.id,))
    sweep(SWEEP_MAX_ATTEMPTS=2)
    assert ingest.documents(fresh.id)[0]["sweeper_attempts"] == 0


# ------------------------------------------------------------------ c) versions never made live


def publish_in_lms(env: IngestEnv, course_id: uuid.UUID, version: int, assets: list[Asset],
                   hours_ago: float = 10) -> dict[str, Any]:
    """The LMS's publish (version snapshot, published_version, course.published in the outbox);
    the event never reaches IngestFunction. Returns the event."""
    snapshot = {"modules": [], "assets": [{"asset_id": str(a.id), "s3_key": a.key, "filename": a.filename,
                                           "content_type": a.content_type, "size_bytes": len(TEXT)} for a in assets]}
    event = env.published(course_id, version, assets)
    with env.db.transaction():
        env.db.execute("INSERT INTO lms.course_versions (course_id, version, snapshot, published_by, published_at) "
                       "VALUES (%s, %s, %s, %s, now() - make_interval(hours => %s))",
                       (course_id, version, Jsonb(snapshot), env.instructor(), hours_ago))
        env.db.execute("UPDATE lms.courses SET status = 'published', published_version = %s WHERE id = %s",
                       (version, course_id))
        write_event(env.db, EventEnvelope.model_validate(event))
    return event


def processed(env: IngestEnv, event: dict[str, Any]) -> bool:
    return env.db.execute("SELECT 1 FROM ai.processed_events WHERE consumer = 'ingest' AND event_id = %s",
                          (event["id"],)).fetchone() is not None


def live_version(env: IngestEnv, course_id: uuid.UUID) -> int | None:
    row = env.db.execute("SELECT version FROM ai.course_live_versions WHERE course_id = %s", (course_id,)).fetchone()
    return None if row is None else int(row["version"])


def test_a_published_version_the_ai_side_never_saw_is_made_live_and_the_late_event_changes_nothing(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    # Given a course published 10 h ago whose course.published was dead-lettered (its upload's too)
    course = ingest.course()
    asset = ingest.declare(course, "notes.md", MD, len(TEXT))
    ingest.put(asset, TEXT)
    original = publish_in_lms(ingest, course, 1, [asset])
    # When the sweep runs (before it: the assistant would find nothing live)
    assert ingest.live(course) == {}
    result = sweep()
    # Then version 1 is live with the asset's chunk set, through the consumer's publish path
    assert result["courses_made_live"] >= 1, result
    assert live_version(ingest, course) == 1
    live = ingest.live(course)
    assert list(live) == [asset.id]
    # And the original event is recorded as processed: replayed late (from the dead-letter topic)
    # it is a duplicate; another copy for the same version changes nothing either
    assert processed(ingest, original)
    assert ingest.invoke(ingest.msk_event(original)) == {"batchItemFailures": []}
    late = ingest.invoke(ingest.msk_event(ingest.published(course, 1, [asset])))
    assert late == {"batchItemFailures": []}
    assert ingest.live(course) == live and live_version(ingest, course) == 1
    assert len(ingest.documents(asset.id)) == 1 and chunk_sets(ingest, asset.id) == 1
    # And a second sweep has nothing to do for this course
    assert sweep()["courses_made_live"] == 0


def test_a_newer_published_version_wins_over_a_late_older_event(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    course = ingest.course()
    first = ingest.declare(course, "one.md", MD, len(TEXT))
    ingest.put(first, TEXT)
    v1 = ingest.published(course, 1, [first])
    assert ingest.invoke(ingest.msk_event(v1)) == {"batchItemFailures": []}  # v1 went through
    other = TEXT.replace(b"Vacuum", b"Autovacuum")
    second = ingest.declare(course, "two.md", MD, len(other))
    ingest.put(second, other)
    publish_in_lms(ingest, course, 1, [first], hours_ago=12)
    publish_in_lms(ingest, course, 2, [first, second])  # v2's event lost
    # a version published within the grace period is left to its event
    assert sweep(SWEEP_GRACE_S=11 * HOURS)["courses_made_live"] == 0
    assert live_version(ingest, course) == 1
    sweep()
    assert live_version(ingest, course) == 2 and set(ingest.live(course)) == {first.id, second.id}
    # v1's event redelivered late is ignored: versions only move forward
    assert ingest.invoke(ingest.msk_event(ingest.published(course, 1, [first]))) == {"batchItemFailures": []}
    assert live_version(ingest, course) == 2 and set(ingest.live(course)) == {first.id, second.id}


# ------------------------------------------------------------------ d) deletions never applied


def test_a_deletion_whose_event_was_lost_is_applied_and_the_late_event_is_a_duplicate(
        ingest: IngestEnv, sweep: Callable[..., dict[str, Any]]) -> None:
    # Given a live asset that the LMS deleted 10 h ago; its asset.deleted never arrived
    course = ingest.course()
    asset, _ = ingest.upload(course, "gone.md", TEXT, MD)
    assert ingest.invoke(ingest.msk_event(ingest.published(course, 1, [asset]))) == {"batchItemFailures": []}
    assert list(ingest.live(course)) == [asset.id]
    deleted = ingest.envelope("asset.deleted", asset.id, {"asset_id": str(asset.id), "course_id": str(course),
                                                           "s3_key": asset.key})
    with ingest.db.transaction():
        ingest.db.execute("UPDATE lms.assets SET deleted_at = now() - interval '10 hours' WHERE id = %s",
                          (asset.id,))
        write_event(ingest.db, EventEnvelope.model_validate(deleted))
    # When the sweep runs
    result = sweep()
    # Then the asset is purged from the index (live sets included) and recorded as deleted
    assert result["deletions_applied"] >= 1, result
    assert ingest.live(course) == {} and chunk_sets(ingest, asset.id) == 0
    assert ingest.db.execute("SELECT 1 FROM ai.deleted_assets WHERE asset_id = %s", (asset.id,)).fetchone()
    assert processed(ingest, deleted)
    # And the late original is a duplicate; a late upload notification does not bring it back
    assert ingest.invoke(ingest.msk_event(deleted)) == {"batchItemFailures": []}
    late_upload = ingest.invoke(ingest.s3_event("ObjectCreated:Post", asset.key, len(TEXT)))
    assert late_upload["skipped"] == 1 and ingest.live(course) == {} and chunk_sets(ingest, asset.id) == 0
    assert sweep()["deletions_applied"] == 0
