"""Wires the AI side's ingestion from its settings: the one place its adapters are chosen
(the MiniLM embedder, S3 objects, the database with pgvector's types), as
`smartcourse.assistant.bootstrap` does for the assistant. Each adapter can be replaced (tests,
benchmarks, reindex with another model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from smartcourse.ai.ingestion import AfterLive, DocumentPipeline, IngestionService, IngestSettings
from smartcourse.ai.reconcile import PostgresSweepStore, ServiceIngestor, Sweeper, SweepLimits
from smartcourse.container import database_for
from smartcourse.db import register_pgvector

if TYPE_CHECKING:
    from smartcourse.ai.ingestion import Embedder
    from smartcourse.ai.objects import ObjectStore
    from smartcourse.db import Database
    from smartcourse.settings import CommonSettings

__all__ = ["build_service", "build_sweeper", "new_database"]


def build_service(settings: IngestSettings, *, embedder: Embedder | None = None,
                  objects: ObjectStore | None = None, database: Database | None = None) -> IngestionService:
    """The service with its production adapters (each replaceable, e.g. in tests)."""
    from smartcourse.ai.extract import ExtractionLimits

    if embedder is None:
        from smartcourse.ai.embeddings import MiniLMEmbedder

        embedder = MiniLMEmbedder(batch_size=settings.embedding_batch_size)
    if objects is None:
        from smartcourse.ai.objects import S3Objects
        from smartcourse.aws import client

        objects = S3Objects(client("s3", settings), settings.assets_bucket)
    if database is None:
        database = new_database(settings, "smartcourse-ingest")
    pipeline = DocumentPipeline(embedder, max_tokens=settings.chunk_max_tokens,
                                overlap_tokens=settings.chunk_overlap_tokens,
                                limits=ExtractionLimits(max_bytes=settings.max_asset_bytes))
    return IngestionService(database, objects, pipeline, max_bytes=settings.max_asset_bytes,
                            after_live=gap_rechecker(settings, embedder))


def gap_rechecker(settings: IngestSettings, embedder: Embedder) -> AfterLive:
    """Content gaps re-asked on a version that goes live (the assistant's retrieval and evidence
    test; the embedder is never called: the questions' embeddings are stored)."""
    from smartcourse.assistant.bootstrap import build_retriever
    from smartcourse.assistant.gap_recheck import GapRechecker

    return GapRechecker(build_retriever(settings, embedder), settings)


def new_database(settings: CommonSettings, application_name: str) -> Database:
    """A database for the AI side: `container.database_for` with pgvector's types registered."""
    return database_for(settings, application_name, configure=register_pgvector)


def build_sweeper(service: IngestionService, events_database: Callable[[], Database],
                  settings: IngestSettings) -> Sweeper:
    """The reconciliation sweeper over `service`, writing the consumer's dedupe rows through
    `events_database` (the consumer's own connection)."""
    return Sweeper(PostgresSweepStore(service.database),
                   ServiceIngestor(service, events_database, settings.consumer_name),
                   SweepLimits.from_settings(settings))
