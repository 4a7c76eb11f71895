"""The IngestFunction handler is a translator: S3 records to service calls, outcomes to a summary;
deterministic failures succeed, outages fail the invocation after the other records ran. The
document pipeline (extract -> chunk -> rows) runs without I/O and with a fake embedder."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from smartcourse.ai.assets import ObjectChange
from smartcourse.ai.ingestion import DocumentPipeline, Outcome
from smartcourse.errors import DependencyUnavailable
from tests.conftest import load_function_module


class FakeContext:
    function_name = "IngestFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id = "unit"


class FakeService:
    def __init__(self, outcomes: dict[str, Outcome | Exception]) -> None:
        self.outcomes = outcomes
        self.created: list[str] = []
        self.removed: list[str] = []

    def on_object_created(self, change: ObjectChange) -> Outcome | None:
        self.created.append(change.key)
        result = self.outcomes[change.key]
        if isinstance(result, Exception):
            raise result
        return result

    def on_object_removed(self, change: ObjectChange) -> None:
        self.removed.append(change.key)


def record(name: str, key: str) -> dict[str, Any]:
    return {"eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 1, "eTag": "e"}}}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = load_function_module("ingest")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Unit")
    return module


def outcome(work: str, status: str) -> Outcome:
    return Outcome(uuid.uuid4(), work, status)  # type: ignore[arg-type]


def test_s3_records_become_service_calls_and_a_summary(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService({"a": outcome("indexed", "ready"), "b": outcome("rejected", "failed"),
                        "c": outcome("duplicate", "ready"), "d": outcome("copied", "ready")})
    monkeypatch.setattr(app, "service", lambda: fake)
    event = {"Records": [record("ObjectCreated:Put", k) for k in "abcd"]
             + [record("ObjectRemoved:Delete", "gone+file.pdf")]}

    result = app.handler(event, FakeContext())

    assert result == {"indexed": 1, "reused": 1, "failed": 1, "duplicates": 1, "skipped": 0, "removed": 1}
    assert fake.removed == ["gone file.pdf"]


def test_an_outage_fails_the_invocation_after_the_other_records_ran(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService({"a": DependencyUnavailable("database unavailable"), "b": outcome("indexed", "ready")})
    monkeypatch.setattr(app, "service", lambda: fake)
    monkeypatch.setattr(app, "outage_wait_s", lambda: 0.0)  # no time to wait it out

    with pytest.raises(DependencyUnavailable):
        app.handler({"Records": [record("ObjectCreated:Put", "a"), record("ObjectCreated:Put", "b")]},
                    FakeContext())
    assert fake.created == ["a", "b"]


def test_an_unknown_event_shape_is_an_error(app: Any) -> None:
    with pytest.raises(ValueError, match="S3 notification"):
        app.handler({"detail-type": "Scheduled Event"}, FakeContext())


class HashEmbedder:
    model_name = "fake"
    model_version = "fake@1"

    def embed(self, texts: list[str]) -> Any:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, hash(t) % 384] = 1.0
        return out


def test_the_pipeline_turns_a_document_into_located_chunk_rows() -> None:
    pipeline = DocumentPipeline(HashEmbedder(), max_tokens=64, overlap_tokens=8)
    text = "# Indexes\n\n## B-tree\n\n" + "B-trees handle equality and range queries. " * 20 + "\n\n## Hash\n\nHash."

    prepared = pipeline.prepare(text.encode(), "notes.md", "text/markdown")

    assert prepared.document.format.value == "markdown"
    assert [c.ordinal for c in prepared.chunks] == list(range(len(prepared.chunks)))
    assert len(prepared.chunks) > 2 and all(c.token_count <= 64 for c in prepared.chunks)
    assert prepared.chunks[0].metadata["heading_path"] == ["Indexes", "B-tree"]
    assert prepared.chunks[-1].metadata["heading_path"] == ["Indexes", "Hash"]
    assert prepared.chunks[-1].metadata["context"] == "Indexes > Hash"
    assert pipeline.embed(prepared).shape == (len(prepared.chunks), 384)


class FlakyService(FakeService):
    """S3 (or the database) is out for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        super().__init__({})
        self.left = failures

    def on_object_created(self, change: ObjectChange) -> Outcome | None:
        self.created.append(change.key)
        if self.left > 0:
            self.left -= 1
            raise DependencyUnavailable("S3 unavailable: ConnectionClosedError")
        return outcome("indexed", "ready")


def test_a_short_outage_is_waited_out_within_the_invocation(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given S3 out for the first 3 tries (found by make chaos: an S3 outage then a Postgres restart
    # used up a notification's 3 receives, which went to the DLQ)
    fake = FlakyService(3)
    monkeypatch.setattr(app, "service", lambda: fake)
    monkeypatch.setattr(app, "outage_wait_s", lambda: 5.0)
    monkeypatch.setattr(app, "OUTAGE_BACKOFF_S", 0.001)
    # When the notification arrives once, Then it is indexed by this invocation: no retry needed
    result = app.handler({"Records": [record("ObjectCreated:Put", "a")]}, FakeContext())
    assert result["indexed"] == 1 and fake.created == ["a"] * 4


def test_the_outage_wait_stops_short_of_the_deadline(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class ShortContext(FakeContext):
        def get_remaining_time_in_millis(self) -> int:
            return 4_000  # under the safety margin: no wait

    fake = FlakyService(1)
    monkeypatch.setattr(app, "service", lambda: fake)
    monkeypatch.setattr(app, "outage_wait_s", lambda: 60.0)
    with pytest.raises(DependencyUnavailable):
        app.handler({"Records": [record("ObjectCreated:Put", "a")]}, ShortContext())
    assert fake.created == ["a"]
