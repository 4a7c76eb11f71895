"""Versions: re-uploads build beside the live chunk set, publishing swaps a course's live sets in one
transaction, out-of-order and duplicate events do no harm, deletions purge, same content is free."""

from __future__ import annotations

import uuid

import pytest

from smartcourse.ai import repository
from testkit import index
from tests.integration.ingest import documents as docs
from tests.integration.ingest.conftest import Asset, IngestEnv

pytestmark = pytest.mark.integration

MD = "text/markdown"
INTRO = docs.manual_page("indexes-intro.html").paragraphs
MVCC = docs.manual_page("mvcc-intro.html").paragraphs
TX = docs.manual_page("tutorial-transactions.html").paragraphs


def md(title: str, paragraphs: list[str]) -> bytes:
    return docs.markdown(title, [("Notes", paragraphs)])


def live_text(env: IngestEnv, course_id: uuid.UUID, query: str) -> list[str]:
    return [h.text for h in index.search_live_text(env.db, course_id, query, k=20)]


def live_vector(env: IngestEnv, course_id: uuid.UUID, query: str) -> list[index.ChunkHit]:
    vector = env.app.service().pipeline.embedder.embed([query])[0]
    return index.search_live_vector(env.db, course_id, vector, k=5)


def reupload(env: IngestEnv, asset: Asset, data: bytes) -> dict[str, int]:
    env.redeclare_size(asset, len(data))
    etag = env.put(asset, data)
    return dict(env.invoke(env.s3_event("ObjectCreated:Put", asset.key, len(data), etag)))


def publish(env: IngestEnv, course_id: uuid.UUID, version: int, assets: list[Asset]) -> dict[str, list[object]]:
    return dict(env.invoke(env.msk_event(env.published(course_id, version, assets))))


def test_uploads_are_not_served_until_the_course_publishes_them(ingest: IngestEnv) -> None:
    course = ingest.course()
    asset, _ = ingest.upload(course, "indexes.md", md("Indexes", INTRO[:2]), MD)
    assert ingest.status(asset.id)["status"] == "ready"
    assert live_text(ingest, course, "index") == []  # a draft upload is not live

    assert publish(ingest, course, 1, [asset]) == {"batchItemFailures": []}

    assert set(ingest.live(course)) == {asset.id}
    assert live_text(ingest, course, "index")
    nearest = live_vector(ingest, course, "Why does an index make finding rows faster?")
    assert nearest and all(h.asset_id == asset.id for h in nearest)


def test_a_reupload_builds_beside_the_live_set_and_publishing_swaps_it(ingest: IngestEnv) -> None:
    course = ingest.course()
    asset, _ = ingest.upload(course, "week1.md", md("Week 1", INTRO[:2]), MD)
    publish(ingest, course, 1, [asset])
    old_set = ingest.live(course)[asset.id]

    # The instructor replaces the file with other material: a new chunk set, not yet live.
    assert reupload(ingest, asset, md("Week 1", MVCC[:2]))["indexed"] == 1
    sets = {d["chunk_set_id"] for d in ingest.documents(asset.id)}
    assert len(sets) == 2 and old_set in sets
    assert ingest.live(course)[asset.id] == old_set
    assert live_text(ingest, course, "index") and not live_text(ingest, course, "multiversion")

    publish(ingest, course, 2, [asset])

    new_set = ingest.live(course)[asset.id]
    assert new_set != old_set and new_set in sets
    assert live_text(ingest, course, "multiversion") and not live_text(ingest, course, "\"index scan\"")
    assert all(h.chunk_set_id == new_set for h in live_vector(ingest, course, "concurrency control"))


def test_publishing_indexes_assets_that_no_upload_event_indexed(ingest: IngestEnv) -> None:
    course = ingest.course()
    data = md("Transactions", TX[:2])
    asset = ingest.declare(course, "tx.md", MD, len(data))
    ingest.put(asset, data)  # the S3 notification was lost

    assert publish(ingest, course, 1, [asset]) == {"batchItemFailures": []}

    (doc,) = ingest.documents(asset.id)
    assert (doc["status"], doc["source"]) == ("ready", "publish")
    assert ingest.live(course) == {asset.id: doc["chunk_set_id"]}


def test_an_older_version_published_late_does_not_replace_the_live_one(ingest: IngestEnv) -> None:
    course = ingest.course()
    a, _ = ingest.upload(course, "a.md", md("A", INTRO[:1]), MD)
    b, _ = ingest.upload(course, "b.md", md("B", MVCC[:1]), MD)

    publish(ingest, course, 2, [a, b])
    publish(ingest, course, 1, [a])  # arrives late (other partition, retry)

    assert set(ingest.live(course)) == {a.id, b.id}
    assert repository.live_version(ingest.db, course).version == 2


def test_a_duplicate_course_published_delivery_has_no_second_effect(ingest: IngestEnv) -> None:
    course = ingest.course()
    a, _ = ingest.upload(course, "a.md", md("Dup", TX[:1]), MD)
    event = ingest.msk_event(ingest.published(course, 1, [a]))

    ingest.invoke(event)
    switched = repository.live_version(ingest.db, course).switched_at
    ingest.invoke(event)  # redelivered

    assert repository.live_version(ingest.db, course).switched_at == switched
    assert len(ingest.documents(a.id)) == 1


def test_duplicate_and_identical_uploads_do_no_embedding_work(ingest: IngestEnv) -> None:
    course = ingest.course()
    data = md("Identical", INTRO[2:4])
    first, result = ingest.upload(course, "same.md", data, MD)
    assert result["indexed"] == 1

    # The same notification delivered twice, and the same bytes uploaded again.
    etag = ingest.put(first, data)
    again = ingest.invoke(ingest.s3_event("ObjectCreated:Put", first.key, len(data), etag))
    assert again["duplicates"] == 1 and len(ingest.documents(first.id)) == 1

    # The same file uploaded as another asset: vectors copied, not computed.
    second, result = ingest.upload(course, "copy.md", data, MD)
    assert result["reused"] == 1
    (doc,) = ingest.documents(second.id)
    assert doc["status"] == "ready" and doc["reused"] and doc["embed_ms"] is None
    original = ingest.chunks(first.id)
    copied = ingest.chunks(second.id)
    assert [c["text"] for c in copied] == [c["text"] for c in original]
    assert {c["chunk_set_id"] for c in copied}.isdisjoint({c["chunk_set_id"] for c in original})


def test_switching_back_to_earlier_content_reuses_its_chunk_set(ingest: IngestEnv) -> None:
    course = ingest.course()
    v1 = md("Flip", MVCC[1:3])
    asset, _ = ingest.upload(course, "flip.md", v1, MD)
    first_set = ingest.documents(asset.id)[0]["chunk_set_id"]
    reupload(ingest, asset, md("Flop", TX[3:5]))
    assert ingest.status(asset.id)["status"] == "ready"

    reupload(ingest, asset, v1)  # back to the first content

    docs_now = ingest.documents(asset.id)
    assert len(docs_now) == 2  # the first document is current again, not a third one
    assert ingest.chunks(asset.id)[0]["chunk_set_id"] == first_set


def test_asset_deleted_purges_live_chunks_and_later_events_do_not_revive_it(ingest: IngestEnv) -> None:
    course = ingest.course()
    keep, _ = ingest.upload(course, "keep.md", md("Keep", INTRO[4:6]), MD)
    gone, _ = ingest.upload(course, "gone.md", md("Gone", MVCC[2:4]), MD)
    publish(ingest, course, 1, [keep, gone])

    deleted = ingest.envelope("asset.deleted", gone.id,
                              {"asset_id": str(gone.id), "course_id": str(course), "s3_key": gone.key})
    assert ingest.invoke(ingest.msk_event(deleted)) == {"batchItemFailures": []}

    assert set(ingest.live(course)) == {keep.id}
    assert ingest.db.execute("SELECT count(*) AS n FROM ai.chunks WHERE asset_id = %s",
                             (gone.id,)).fetchone()["n"] == 0
    assert ingest.status(gone.id) is None  # the LMS listing no longer shows an index status
    assert {d["status"] for d in ingest.documents(gone.id)} == {"deleted"}

    # A late upload notification and a re-publish of the old version list do not bring it back.
    etag = ingest.put(gone, md("Gone again", MVCC[4:5]))
    assert ingest.invoke(ingest.s3_event("ObjectCreated:Put", gone.key, 10, etag))["skipped"] == 1
    publish(ingest, course, 2, [keep, gone])
    assert set(ingest.live(course)) == {keep.id}


def test_s3_object_removed_purges_that_object(ingest: IngestEnv) -> None:
    course = ingest.course()
    asset, _ = ingest.upload(course, "removed.md", md("Removed", TX[5:7]), MD)
    publish(ingest, course, 1, [asset])
    ingest.s3.delete_object(Bucket=ingest.bucket, Key=asset.key)

    result = ingest.invoke(ingest.s3_event("ObjectRemoved:Delete", asset.key))

    assert result["removed"] == 1
    assert ingest.live(course) == {}
    assert not ingest.chunks(asset.id)


def test_a_late_removal_of_an_overwritten_object_keeps_the_current_content(ingest: IngestEnv) -> None:
    course = ingest.course()
    asset, _ = ingest.upload(course, "rewritten.md", md("Old", INTRO[6:8]), MD)
    reupload(ingest, asset, md("New", MVCC[:1]))  # written again after an earlier delete

    ingest.invoke(ingest.s3_event("ObjectRemoved:Delete", asset.key))  # the older delete, delivered late

    assert ingest.status(asset.id)["status"] == "ready"
    assert "multiversion" in " ".join(c["text"].lower() for c in ingest.chunks(asset.id))
