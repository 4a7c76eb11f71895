"""Bad inputs end as a failed document with a readable reason, visible through the LMS's view;
other assets are unaffected; deterministic failures do not fail the invocation, outages do."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from smartcourse.ai.assets import ObjectChange
from smartcourse.errors import DependencyUnavailable
from smartcourse.readonly.ai_index import asset_statuses
from tests.integration.ingest import documents as docs
from tests.integration.ingest.conftest import IngestEnv

pytestmark = pytest.mark.integration

PDF = "application/pdf"
PAGE = docs.manual_page("indexes-intro.html").paragraphs[:2]


def failed(env: IngestEnv, asset_id: uuid.UUID, code: str) -> str:
    """Asserts the asset's status (as the LMS listing reads it) is failed with `code`; returns the reason."""
    status = asset_statuses(env.db, [asset_id])[asset_id]
    assert (status.status, status.error_code) == ("failed", code), status
    assert status.error and len(status.error) > 15
    assert not env.chunks(asset_id)
    return status.error


def test_a_corrupt_pdf_fails_with_a_reason(ingest: IngestEnv) -> None:
    data = docs.pdf([PAGE])
    corrupt = data[:200] + b"\x00garbage" * 40  # header kept, body destroyed
    asset, result = ingest.upload(ingest.course(), "broken.pdf", corrupt, PDF)

    assert result["failed"] == 1  # recorded, and the invocation succeeded (no retry)
    failed(ingest, asset.id, "corrupt_document")
    assert ingest.documents(asset.id)[0]["attempts"] == 1


def test_an_encrypted_pdf_fails_with_a_reason(ingest: IngestEnv) -> None:
    asset, _ = ingest.upload(ingest.course(), "locked.pdf", docs.pdf([PAGE], encrypt=True), PDF)

    assert "password" in failed(ingest, asset.id, "encrypted_document").lower()


def test_an_unsupported_type_fails_before_download(ingest: IngestEnv) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    asset, _ = ingest.upload(ingest.course(), "diagram.png", png, "image/png")

    assert "image/png" in failed(ingest, asset.id, "unsupported_format")
    assert ingest.documents(asset.id)[0]["content_hash"] is None  # never downloaded


def test_a_document_without_text_fails_as_empty(ingest: IngestEnv) -> None:
    asset, _ = ingest.upload(ingest.course(), "blank.pdf", docs.pdf([[]]), PDF)

    failed(ingest, asset.id, "empty_document")


def test_an_object_larger_than_declared_fails(ingest: IngestEnv) -> None:
    data = docs.pdf([PAGE])
    asset, _ = ingest.upload(ingest.course(), "notes.pdf", data, PDF, declared_size=1000)

    reason = failed(ingest, asset.id, "size_mismatch")
    assert f"{len(data):,} bytes" in reason and "1,000 bytes" in reason


def test_an_object_over_the_configured_maximum_fails(ingest: IngestEnv) -> None:
    from smartcourse.ai.bootstrap import build_service
    from smartcourse.ai.ingestion import IngestSettings
    from smartcourse.settings import load_settings

    small = build_service(load_settings(IngestSettings).model_copy(update={"max_asset_bytes": 4096}),
                          embedder=ingest.app.service().pipeline.embedder)
    data = docs.pdf([PAGE] * 6)
    assert len(data) > 4096
    asset = ingest.declare(ingest.course(), "big.pdf", PDF, len(data))
    ingest.put(asset, data)

    outcome = small.on_object_created(ObjectChange("created", "ObjectCreated:Put", ingest.bucket, asset.key,
                                                   len(data), None, None))

    assert outcome is not None and outcome.code == "document_too_large"
    assert "limit is 4,096 bytes" in failed(ingest, asset.id, "document_too_large")


def test_a_content_type_other_than_declared_fails(ingest: IngestEnv) -> None:
    course = ingest.course()
    # The upload sent another Content-Type than the one declared (a POST policy would refuse it).
    sent_html, _ = ingest.upload(course, "notes.pdf", docs.pdf([PAGE]), PDF, object_type="text/html")
    # Declared and sent as Markdown, but the bytes are a PDF.
    pdf_as_md, _ = ingest.upload(course, "notes.md", docs.pdf([PAGE]), "text/markdown")

    assert "text/html" in failed(ingest, sent_html.id, "content_type_mismatch")
    assert "PDF" in failed(ingest, pdf_as_md.id, "content_type_mismatch")


def test_an_object_the_lms_does_not_know_fails(ingest: IngestEnv) -> None:
    course = ingest.course()
    stray = ingest.declare(course, "stray.md", "text/markdown", 10)
    ingest.db.execute("DELETE FROM lms.assets WHERE id = %s", (stray.id,))  # never registered
    etag = ingest.put(stray, b"# Stray\n\nSome text that nobody declared.")
    ingest.invoke(ingest.s3_event("ObjectCreated:Put", stray.key, 40, etag))

    failed(ingest, stray.id, "unknown_asset")


def test_one_bad_asset_does_not_affect_the_others_in_the_same_event(ingest: IngestEnv) -> None:
    course = ingest.course()
    bad = ingest.declare(course, "bad.pdf", PDF, 5000)
    good = ingest.declare(course, "good.md", "text/markdown", 5000)
    bad_tag = ingest.put(bad, b"%PDF-1.4\n" + b"\x00" * 100)
    good_tag = ingest.put(good, docs.markdown("Indexes", [("Intro", PAGE)]))
    event = ingest.s3_event("ObjectCreated:Put", bad.key, 109, bad_tag)
    event["Records"] += ingest.s3_event("ObjectCreated:Put", good.key, 10, good_tag)["Records"]

    result = ingest.invoke(event)

    assert (result["failed"], result["indexed"]) == (1, 1)
    assert ingest.status(bad.id)["status"] == "failed"
    assert ingest.status(good.id)["status"] == "ready"


class FlakyObjects:
    """S3 that is down for reads until `recover()`."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.down = True

    def head(self, key: str) -> Any:
        return self.real.head(key)

    def get(self, key: str) -> bytes:
        if self.down:
            raise DependencyUnavailable("S3 unavailable: EndpointConnectionError")
        return bytes(self.real.get(key))


def test_an_s3_outage_fails_the_invocation_and_the_retry_finishes_the_same_document(
        ingest: IngestEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = ingest.app.service()
    flaky = FlakyObjects(svc.objects)
    monkeypatch.setattr(svc, "objects", flaky)
    monkeypatch.setattr(ingest.app, "outage_wait_s", lambda: 0.0)  # an outage longer than the wait
    data = docs.markdown("Indexes during an outage", [("Intro", PAGE)])  # content not indexed before
    asset = ingest.declare(ingest.course(), "intro.md", "text/markdown", len(data))
    event = ingest.s3_event("ObjectCreated:Put", asset.key, len(data), ingest.put(asset, data))

    with pytest.raises(DependencyUnavailable):
        ingest.invoke(event)
    assert ingest.status(asset.id)["status"] == "processing"  # not failed: it will be retried

    flaky.down = False
    result = ingest.invoke(event)  # the trigger's retry

    assert result["indexed"] == 1
    (doc,) = ingest.documents(asset.id)
    assert (doc["status"], doc["attempts"]) == ("ready", 2)


def test_a_publish_during_an_s3_outage_fails_the_record_and_its_retry_makes_the_version_live(
        ingest: IngestEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = ingest.app.service()
    flaky = FlakyObjects(svc.objects)
    monkeypatch.setattr(svc, "objects", flaky)
    course = ingest.course()
    data = docs.markdown("Published during an outage", [("Intro", PAGE)])
    asset = ingest.declare(course, "outage.md", "text/markdown", len(data))
    ingest.put(asset, data)
    event = ingest.msk_event(ingest.published(course, 1, [asset]))
    monkeypatch.setattr(ingest.app.deps().consumer, "transient_wait_s", 0.0)  # an outage longer than the wait

    first = ingest.invoke(event)

    (failure,) = first["batchItemFailures"]  # the mapping retries this record
    assert failure["itemIdentifier"]["partition"].endswith(".course-0")
    assert ingest.live(course) == {}

    flaky.down = False
    assert ingest.invoke(event) == {"batchItemFailures": []}
    assert set(ingest.live(course)) == {asset.id}


def test_a_short_s3_outage_is_waited_out_by_the_same_invocation(
        ingest: IngestEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by make chaos: an S3 outage then a Postgres restart used up a notification's 3 receives
    svc = ingest.app.service()
    flaky = FlakyObjects(svc.objects)
    monkeypatch.setattr(svc, "objects", flaky)
    monkeypatch.setattr(ingest.app, "OUTAGE_BACKOFF_S", 0.01)
    real_get = flaky.get
    calls: list[str] = []

    def get(key: str) -> bytes:  # S3 comes back after two failed reads
        calls.append(key)
        flaky.down = len(calls) <= 2
        return real_get(key)

    monkeypatch.setattr(flaky, "get", get)
    data = docs.markdown("Indexes after a short outage", [("Intro", PAGE)])
    asset = ingest.declare(ingest.course(), "short.md", "text/markdown", len(data))
    event = ingest.s3_event("ObjectCreated:Put", asset.key, len(data), ingest.put(asset, data))

    result = ingest.invoke(event)  # one delivery, no retry by the trigger

    assert result["indexed"] == 1 and len(calls) == 3
    (doc,) = ingest.documents(asset.id)
    assert doc["status"] == "ready"
