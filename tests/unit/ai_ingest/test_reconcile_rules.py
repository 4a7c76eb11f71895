"""The reconciliation sweep's rules, with a fake store and a fake ingestor (no services)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from smartcourse.ai.ingestion import Outcome
from smartcourse.ai.reconcile import (
    StuckDocument,
    Sweeper,
    SweepLimits,
    interrupted_reason,
    lagging,
    stuck_action,
)
from smartcourse.errors import DependencyUnavailable
from smartcourse.readonly.lms_facts import DeletedAsset, PublishedVersion, UnindexedAsset

NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def doc(attempts: int = 1, sweeper_attempts: int = 0, last_error: str | None = None) -> StuckDocument:
    aid, cid = uuid.uuid4(), uuid.uuid4()
    return StuckDocument(uuid.uuid4(), aid, cid, f"courses/{cid}/assets/{aid}/a.md", attempts, sweeper_attempts,
                         last_error, NOW)


class FakeStore:
    def __init__(self, *, assets: list[UnindexedAsset] | None = None, stuck: list[StuckDocument] | None = None,
                 courses: list[PublishedVersion] | None = None) -> None:
        self.assets = assets or []
        self.stuck = {d.id: d for d in stuck or []}
        self.courses = courses or []
        self.deleted: list[DeletedAsset] = []
        self.checks: list[tuple[uuid.UUID, str]] = []
        self.failed: dict[uuid.UUID, str] = {}
        self.restart_errors: dict[uuid.UUID, str] = {}
        self.limits_seen: list[SweepLimits] = []

    def unindexed_assets(self, limits: SweepLimits) -> list[UnindexedAsset]:
        self.limits_seen.append(limits)
        return self.assets[: limits.batch]

    def record_asset_check(self, asset_id: uuid.UUID, result: str) -> None:
        self.checks.append((asset_id, result))

    def stuck_documents(self, limits: SweepLimits) -> list[StuckDocument]:
        return list(self.stuck.values())[: limits.batch]

    def claim_stuck(self, doc_id: uuid.UUID, limits: SweepLimits) -> StuckDocument | None:
        d = self.stuck[doc_id]
        if d.sweeper_attempts >= limits.max_attempts:
            return None
        claimed = StuckDocument(d.id, d.asset_id, d.course_id, d.s3_key, d.attempts, d.sweeper_attempts + 1,
                                d.sweeper_last_error, NOW)
        self.stuck[doc_id] = claimed
        return claimed

    def give_up(self, doc: StuckDocument, limits: SweepLimits, message: str) -> bool:
        self.failed[doc.id] = message
        return True

    def record_restart_error(self, doc_id: uuid.UUID, message: str) -> None:
        self.restart_errors[doc_id] = message

    def supersede_if_processing(self, doc_id: uuid.UUID, message: str) -> bool:
        self.failed[doc_id] = message
        return True

    def lagging_courses(self, limits: SweepLimits) -> list[PublishedVersion]:
        return self.courses[: limits.batch]

    def deleted_not_purged(self, limits: SweepLimits) -> list[DeletedAsset]:
        return self.deleted[: limits.batch]


class FakeIngestor:
    def __init__(self, outcomes: dict[str, Outcome | Exception | None] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.ingested: list[str] = []
        self.made_live: list[tuple[uuid.UUID, int]] = []
        self.purged: list[uuid.UUID] = []

    def ingest_key(self, s3_key: str) -> Outcome | None:
        self.ingested.append(s3_key)
        result = self.outcomes.get(s3_key)
        if isinstance(result, Exception):
            raise result
        return result

    def make_live(self, course: PublishedVersion) -> bool:
        self.made_live.append((course.course_id, course.version))
        return True

    def purge_deleted(self, asset: DeletedAsset) -> None:
        self.purged.append(asset.asset_id)


def asset(key_suffix: str = "a.md") -> UnindexedAsset:
    aid, cid = uuid.uuid4(), uuid.uuid4()
    return UnindexedAsset(aid, cid, f"courses/{cid}/assets/{aid}/{key_suffix}", NOW)


# ------------------------------------------------------------------ pure rules


def test_a_stuck_document_is_restarted_until_the_sweeper_used_its_attempts() -> None:
    assert stuck_action(doc(sweeper_attempts=0), max_attempts=3) == "retry"
    assert stuck_action(doc(sweeper_attempts=2), max_attempts=3) == "retry"
    assert stuck_action(doc(sweeper_attempts=3), max_attempts=3) == "give_up"
    assert stuck_action(doc(sweeper_attempts=0), max_attempts=0) == "give_up"


def test_the_failure_reason_says_how_often_processing_was_interrupted_and_the_last_error() -> None:
    assert interrupted_reason(doc(attempts=4, last_error="DependencyUnavailable: S3 unavailable")) == (
        "processing was interrupted 4 times; last error: DependencyUnavailable: S3 unavailable")
    one = interrupted_reason(doc(attempts=1))
    assert one.startswith("processing was interrupted 1 time; last error: none recorded")


def test_a_course_lags_when_the_ai_side_serves_an_older_version_or_none() -> None:
    assert lagging(2, None)
    assert lagging(3, 2)
    assert not lagging(2, 2)
    assert not lagging(2, 5)


# ------------------------------------------------------------------ the sweep with fakes


def test_lost_uploads_are_ingested_and_assets_without_an_object_are_remembered() -> None:
    # Given two lost uploads (one object exists, one was never written)
    found, missing = asset(), asset()
    store = FakeStore(assets=[found, missing])
    ingestor = FakeIngestor({
        found.s3_key: Outcome(found.asset_id, "indexed", "ready", uuid.uuid4(), uuid.uuid4(), 3),
        missing.s3_key: Outcome(missing.asset_id, "skipped", "skipped", code="object_missing"),
    })
    # When the sweep runs
    report = Sweeper(store, ingestor, SweepLimits(batch=10)).run()
    # Then the found one is indexed through the ingestion service; the missing one is remembered
    assert ingestor.ingested == [found.s3_key, missing.s3_key]
    assert report.assets == {"indexed": 1, "object_missing": 1}
    assert store.checks == [(missing.asset_id, "object_missing")]


def test_work_per_run_is_bounded_by_the_batch() -> None:
    store = FakeStore(assets=[asset() for _ in range(5)])
    ingestor = FakeIngestor()
    Sweeper(store, ingestor, SweepLimits(batch=2)).run()
    assert len(ingestor.ingested) == 2


def test_an_outage_during_a_restart_is_recorded_as_the_documents_last_error() -> None:
    d = doc(attempts=2)
    store = FakeStore(stuck=[d])
    ingestor = FakeIngestor({d.s3_key: DependencyUnavailable("S3 unavailable: EndpointConnectionError")})
    report = Sweeper(store, ingestor, SweepLimits(max_attempts=3)).run()
    assert report.stuck_restarted == 1 and report.stuck_recovered == 0
    assert store.restart_errors[d.id] == "DependencyUnavailable: S3 unavailable: EndpointConnectionError"
    assert d.id not in store.failed
    # an outage ends the run (the next one retries): it is the run's outage, not an item's error
    assert report.run.outage and "S3 unavailable" in report.run.outage and report.errors == []


def test_a_document_the_sweeper_restarted_max_times_is_marked_failed_with_its_reason() -> None:
    d = doc(attempts=4, sweeper_attempts=3, last_error="DependencyUnavailable: S3 unavailable")
    store = FakeStore(stuck=[d])
    ingestor = FakeIngestor()
    report = Sweeper(store, ingestor, SweepLimits(max_attempts=3)).run()
    assert ingestor.ingested == []
    assert report.stuck_failed == 1
    assert store.failed[d.id] == "processing was interrupted 4 times; last error: DependencyUnavailable: S3 unavailable"


def test_a_restart_that_finishes_the_same_document_recovers_it() -> None:
    d = doc()
    store = FakeStore(stuck=[d])
    ingestor = FakeIngestor({d.s3_key: Outcome(d.asset_id, "indexed", "ready", d.id, uuid.uuid4(), 2)})
    report = Sweeper(store, ingestor, SweepLimits()).run()
    assert (report.stuck_restarted, report.stuck_recovered, report.stuck_failed) == (1, 1, 0)
    assert store.failed == {}


@pytest.mark.parametrize("outcome", [
    Outcome(uuid.uuid4(), "skipped", "skipped", code="object_missing", message="no object at k"),
    Outcome(uuid.uuid4(), "indexed", "ready", uuid.uuid4(), uuid.uuid4(), 1),  # another document (new ETag)
])
def test_a_restart_that_cannot_finish_this_document_fails_it(outcome: Outcome) -> None:
    d = doc()
    store = FakeStore(stuck=[d])
    report = Sweeper(store, FakeIngestor({d.s3_key: outcome}), SweepLimits()).run()
    assert report.stuck_failed == 1
    assert store.failed[d.id].startswith("processing was interrupted and not resumed")


def test_only_lagging_courses_are_made_live() -> None:
    behind = PublishedVersion(uuid.uuid4(), 3, NOW, 2, [])
    current = PublishedVersion(uuid.uuid4(), 2, NOW, 2, [])  # caught up since it was selected
    ingestor = FakeIngestor()
    report = Sweeper(FakeStore(courses=[behind, current]), ingestor, SweepLimits()).run()
    assert ingestor.made_live == [(behind.course_id, 3)]
    assert report.courses_made_live == 1


def test_deletions_the_ai_side_never_applied_are_purged() -> None:
    store = FakeStore()
    store.deleted = [DeletedAsset(uuid.uuid4(), uuid.uuid4(), "courses/x/assets/y/z.md", NOW)]
    ingestor = FakeIngestor()
    report = Sweeper(store, ingestor, SweepLimits()).run()
    assert ingestor.purged == [store.deleted[0].asset_id] and report.deletions_applied == 1


def test_the_sweep_stops_taking_items_when_the_invocation_runs_short_of_time() -> None:
    store = FakeStore(assets=[asset() for _ in range(3)])
    ingestor = FakeIngestor()
    left = iter([300_000, 100_000, 30_000, 30_000])
    report = Sweeper(store, ingestor, SweepLimits()).run(lambda: next(left))
    assert len(ingestor.ingested) == 2 and report.stopped_early
