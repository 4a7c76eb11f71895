"""The ingestion service: what to do when an asset object arrives or goes, a course version is
published, or an asset is deleted. Entrypoints (the Lambda handler, the reindex CLI) translate
their input and call one method here.

Per object (``ingest_object``)::

    HEAD -> LMS declaration check -> claim document (uploaded) -> processing -> GET -> sha256
      -> same content already indexed?  reuse (same asset) / copy vectors (other asset)
      -> extract -> chunk -> embed -> binary COPY -> ready
    any deterministic problem -> failed (error_code + readable error); the event succeeds
    S3 / database unavailable -> DependencyUnavailable is raised; the trigger retries

Publishing (``publish``): every asset of the version is ingested if it is not yet (the current
object under the current model), then the version's chunk sets replace the course's live sets
in ONE transaction (the caller's, which also holds the consumer's processed_events row).
Versions only move forward. Deleting an asset purges its chunk sets, live ones included.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import psycopg
from pydantic import Field

from smartcourse.ai import repository
from smartcourse.ai.assets import (
    AssetDeleted,
    AssetKey,
    CoursePublished,
    Declared,
    InvalidAssetKey,
    ObjectChange,
    PublishedAsset,
    Rejection,
    check_format,
    check_object,
    parse_asset_key,
)
from smartcourse.ai.objects import ObjectMissing, ObjectStore
from smartcourse.assistant.settings import RetrievalSettings
from smartcourse.db import Database
from smartcourse.errors import DependencyUnavailable
from smartcourse.observability import logger
from smartcourse.readonly import lms_facts
from smartcourse.settings import CommonSettings

if TYPE_CHECKING:
    from smartcourse.ai.extract import ExtractedDocument, ExtractionLimits

_MIB = 1024 * 1024


class IngestSettings(CommonSettings, RetrievalSettings):
    """IngestFunction's settings (and the reindex CLI's), read on first use. The retrieval and
    evidence settings (`RetrievalSettings`, the assistant's) judge content gaps re-asked when a
    version goes live (`smartcourse.assistant.gap_recheck`)."""

    assets_bucket: str = Field(min_length=3)
    topic_prefix: str = Field(default="smartcourse", pattern=r"^[A-Za-z0-9._-]{1,60}$")
    #: Largest object indexed; the LMS declares sizes, S3 emulators do not enforce them.
    max_asset_bytes: int = Field(default=50 * _MIB, gt=0)
    chunk_max_tokens: int = Field(default=256, ge=32, le=256)
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=100)
    embedding_batch_size: int = Field(default=16, ge=1, le=256)  # the library's measured default
    consumer_name: str = "ingest"
    #: How long one MSK invocation (Timeout 300 s) retries a course event while S3 or the database
    #: is out, before reporting it failed (then the mapping retries, 3 times, then the DLQ).
    transient_wait_s: float = Field(default=120.0, ge=0, le=280)
    # Reconciliation (the scheduled sweep, `smartcourse.ai.reconcile`): a trigger is deemed lost
    # once it is this late (upload declared / version published this long ago without effect).
    sweep_grace_s: float = Field(default=600.0, ge=0)
    #: Assets older than this are no longer looked at (their presigned upload expired long ago).
    sweep_asset_window_s: float = Field(default=86_400.0, gt=0)
    #: A document `processing` for longer than this was interrupted (3 x the 300 s timeout).
    sweep_stuck_after_s: float = Field(default=900.0, ge=0)
    #: Restarts of an interrupted document before it is marked failed.
    sweep_max_attempts: int = Field(default=3, ge=0, le=20)
    #: Items handled per run and per kind (assets, stuck documents, courses), oldest first.
    sweep_batch: int = Field(default=20, ge=1, le=1000)


#: Work done in the live switch's transaction after it (conn, course_id, version).
AfterLive = Callable[[psycopg.Connection[Any], uuid.UUID, int], Any]


# --------------------------------------------------------------------------- pipeline


class Embedder(Protocol):
    model_name: str
    model_version: str

    def embed(self, texts: Sequence[str]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    document: ExtractedDocument
    chunks: list[repository.ChunkRow]
    extract_ms: int
    chunk_ms: int


def _ms(since: float) -> int:
    return round((time.perf_counter() - since) * 1000)


class DocumentPipeline:
    """bytes -> located sections -> chunks -> vectors. CPU only; no I/O."""

    def __init__(self, embedder: Embedder, *, max_tokens: int = 256, overlap_tokens: int = 32,
                 limits: ExtractionLimits | None = None,
                 token_counter: Callable[[str], int] | None = None) -> None:
        self.embedder = embedder
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.limits = limits
        self.token_counter = token_counter

    def prepare(self, data: bytes, filename: str, content_type: str | None) -> Prepared:
        """Extract and chunk. Raises `ExtractionError` subclasses for unusable documents."""
        from smartcourse.ai.chunking import chunk_document
        from smartcourse.ai.extract import DEFAULT_LIMITS, extract

        t0 = time.perf_counter()
        doc = extract(data, filename, content_type, limits=self.limits or DEFAULT_LIMITS)
        t1 = time.perf_counter()
        chunks = chunk_document(doc, self.max_tokens, self.overlap_tokens, self.token_counter)
        rows = [
            repository.ChunkRow(ordinal=c.ordinal, text=c.text,
                             metadata={**c.location, "context": c.context}, token_count=c.token_count)
            for c in chunks
        ]
        return Prepared(doc, rows, round((t1 - t0) * 1000), _ms(t1))

    def embed(self, prepared: Prepared) -> Any:
        return self.embedder.embed([c.text for c in prepared.chunks])


# --------------------------------------------------------------------------- outcomes

Work = Literal["indexed", "reused", "copied", "duplicate", "rejected", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    asset_id: uuid.UUID
    work: Work
    status: str  # ready | failed | skipped
    document_id: uuid.UUID | None = None
    chunk_set_id: uuid.UUID | None = None
    chunks: int = 0
    code: str | None = None
    message: str | None = None


@dataclass
class PublishOutcome:
    course_id: uuid.UUID
    version: int
    switched: bool
    reason: str = ""
    assets: list[Outcome] = field(default_factory=list)

    @property
    def live_assets(self) -> int:
        return sum(1 for o in self.assets if o.status == "ready")


@dataclass(frozen=True, slots=True)
class RemovalOutcome:
    asset_id: uuid.UUID | None
    documents: int
    chunk_sets: int
    reason: str = ""


# --------------------------------------------------------------------------- service


class IngestionService:
    def __init__(self, database: Database, objects: ObjectStore, pipeline: DocumentPipeline, *,
                 max_bytes: int, after_live: AfterLive | None = None) -> None:
        #: Ingestion's own connection: document statuses commit as they change, even while an
        #: event consumer's transaction (another connection) is open around `publish`.
        self.database = database
        self.objects = objects
        self.pipeline = pipeline
        self.max_bytes = max_bytes
        #: Called in the switch's transaction once a version is live (the content-gap re-check).
        self.after_live = after_live

    @property
    def model_name(self) -> str:
        return self.pipeline.embedder.model_name

    @property
    def model_version(self) -> str:
        return self.pipeline.embedder.model_version

    # ------------------------------------------------------------ S3 notifications

    def on_object_created(self, change: ObjectChange) -> Outcome | None:
        try:
            key = parse_asset_key(change.key)
        except InvalidAssetKey as exc:
            logger.warning("object outside the asset layout ignored", extra={"key": change.key, "reason": str(exc)})
            return None
        return self.ingest_object(key, source="s3")

    def on_object_removed(self, change: ObjectChange) -> RemovalOutcome:
        try:
            key = parse_asset_key(change.key)
        except InvalidAssetKey:
            logger.warning("removal outside the asset layout ignored", extra={"key": change.key})
            return RemovalOutcome(None, 0, 0, "not an asset key")
        # Notifications are not ordered: if the key was written again after this removal, keep
        # what is there now and purge only the contents that are gone.
        try:
            current: str | None = self.objects.head(key.key).etag
        except ObjectMissing:
            current = None
        with self.database.transaction() as conn:
            purged = repository.purge_object(conn, key.asset_id, key.key, keep_etag=current)
        logger.info("object removed: index purged", extra={"asset_id": str(key.asset_id), "documents": purged.documents,
                                                            "chunk_sets": purged.chunk_sets})
        return RemovalOutcome(key.asset_id, purged.documents, purged.chunk_sets)

    # ------------------------------------------------------------ one object

    def ingest_object(self, key: AssetKey, *, source: str) -> Outcome:
        """Index the object now at ``key`` unless it already is (same ETag, same model)."""
        with self.database.transaction() as conn:
            if repository.is_asset_deleted(conn, key.asset_id):
                logger.info("asset deleted: upload not indexed", extra={"asset_id": str(key.asset_id)})
                return Outcome(key.asset_id, "skipped", "skipped", code="asset_deleted",
                               message="the asset was deleted")
            facts = lms_facts.asset(conn, key.asset_id)
        try:
            info = self.objects.head(key.key)
        except ObjectMissing:
            logger.warning("object missing: nothing to index", extra={"key": key.key})
            return Outcome(key.asset_id, "skipped", "skipped", code="object_missing",
                           message=f"no object at {key.key}")
        declared = (Declared(facts.course_id, facts.s3_key, facts.content_type, facts.size_bytes, facts.deleted)
                    if facts is not None else None)
        with self.database.transaction() as conn:
            ref = repository.claim_document(
                conn, asset_id=key.asset_id, course_id=key.course_id, s3_key=key.key, etag=info.etag,
                model_name=self.model_name, model_version=self.model_version, source=source,
                filename=key.filename, declared_type=facts.content_type if facts else None,
                object_type=info.content_type, declared_size=facts.size_bytes if facts else None,
                size_bytes=info.size,
            )
            if not ref.created and ref.status in ("ready", "failed"):
                return Outcome(key.asset_id, "duplicate", ref.status, ref.id, ref.chunk_set_id, code=ref.error_code)
            rejection = check_object(key, declared, info, max_bytes=self.max_bytes)
            if rejection is not None:
                return self._fail(conn, key, ref.id, rejection)
            repository.start_processing(conn, ref.id)
        assert declared is not None
        return self._process(key, ref.id, declared)

    def _process(self, key: AssetKey, document_id: uuid.UUID, declared: Declared) -> Outcome:
        t0 = time.perf_counter()
        try:
            data = self.objects.get(key.key)
        except ObjectMissing:
            with self.database.transaction() as conn:
                return self._fail(conn, key, document_id,
                                  Rejection("object_missing", "the file was removed before it could be read"))
        download_ms = _ms(t0)
        content_hash = hashlib.sha256(data).hexdigest()

        with self.database.transaction() as conn:
            reuse = repository.find_chunk_set(conn, key.asset_id, content_hash, self.model_version)
            work: Work = "reused"
            if reuse is None:
                source_set = repository.find_chunk_set_by_content(conn, content_hash, self.model_version)
                if source_set is not None:
                    reuse, _ = repository.copy_chunk_set(conn, source_set, course_id=key.course_id,
                                                      asset_id=key.asset_id, s3_key=key.key)
                    work = "copied"
            if reuse is not None:
                count = self._ready(conn, document_id, reuse, content_hash=content_hash, download_ms=download_ms,
                                    reused=True)
                logger.info("same content already indexed: chunk set reused",
                            extra={"asset_id": str(key.asset_id), "work": work})
                return Outcome(key.asset_id, work, "ready", document_id, reuse, count)

        rejection: Rejection | None = None
        try:
            prepared = self.pipeline.prepare(data, key.filename, declared.content_type)
        except Exception as exc:
            rejection = _rejection_for(exc)
        else:
            rejection = check_format(declared.content_type, prepared.document.format.value)
            if rejection is None and not prepared.chunks:
                rejection = Rejection("empty_document", "the document contains no text to index")
        if rejection is not None:
            with self.database.transaction() as conn:
                repository.update_document(conn, document_id, content_hash=content_hash, download_ms=download_ms)
                return self._fail(conn, key, document_id, rejection)

        t1 = time.perf_counter()
        vectors = self.pipeline.embed(prepared)
        embed_ms = _ms(t1)
        doc = prepared.document
        t2 = time.perf_counter()
        with self.database.transaction() as conn:
            set_id, created = repository.insert_chunk_set(conn, repository.NewChunkSet(
                course_id=key.course_id, asset_id=key.asset_id, s3_key=key.key, content_hash=content_hash,
                model_name=self.model_name, model_version=self.model_version, format=doc.format.value,
                title=doc.title, chunks=prepared.chunks), vectors)
            count = self._ready(conn, document_id, set_id, content_hash=content_hash, reused=not created,
                                format=doc.format.value, title=doc.title, section_count=len(doc.sections),
                                download_ms=download_ms, extract_ms=prepared.extract_ms, chunk_ms=prepared.chunk_ms,
                                embed_ms=embed_ms, store_ms=_ms(t2))
        logger.info("document indexed", extra={"asset_id": str(key.asset_id), "chunks": count,
                                               "format": doc.format.value, "embed_ms": embed_ms})
        return Outcome(key.asset_id, "indexed", "ready", document_id, set_id, count)

    def _ready(self, conn: psycopg.Connection[Any], document_id: uuid.UUID, set_id: uuid.UUID, *,
               reused: bool, **fields: Any) -> int:
        row = conn.execute("SELECT chunk_count, token_count, format, title FROM ai.chunk_sets WHERE id = %s",
                           (set_id,)).fetchone()
        r = row or {}
        fields.setdefault("format", r["format"])
        fields.setdefault("title", r["title"])
        repository.update_document(conn, document_id, status="ready", chunk_set_id=set_id, reused=reused,
                                chunk_count=r["chunk_count"], token_count=r["token_count"],
                                error_code=None, error=None, finished_at=_now(conn), **fields)
        return int(r["chunk_count"])

    def _fail(self, conn: psycopg.Connection[Any], key: AssetKey, document_id: uuid.UUID,
              rejection: Rejection) -> Outcome:
        repository.fail_document(conn, document_id, rejection.code, rejection.message)
        logger.warning("document failed", extra={"asset_id": str(key.asset_id), "error_code": rejection.code,
                                                  "reason": rejection.message})
        return Outcome(key.asset_id, "rejected", "failed", document_id, code=rejection.code, message=rejection.message)

    # ------------------------------------------------------------ course events

    def on_course_published(self, conn: psycopg.Connection[Any], event: CoursePublished) -> PublishOutcome:
        """Handler of ``course.published`` (``conn``: the consumer's transaction)."""
        return self.publish(conn, event.course_id, event.version, event.assets,
                            published_at=event.published_at, source="publish")

    def publish(self, conn: psycopg.Connection[Any], course_id: uuid.UUID, version: int,
                assets: Sequence[PublishedAsset], *, published_at: Any = None,
                source: str = "publish") -> PublishOutcome:
        live = repository.live_version(conn, course_id)
        if live is not None and live.version > version:
            logger.info("older version published after a newer one: ignored",
                        extra={"course_id": str(course_id), "version": version, "live_version": live.version})
            return PublishOutcome(course_id, version, False, f"version {live.version} is already live")
        outcome = PublishOutcome(course_id, version, False)
        for asset in assets:
            try:
                key = parse_asset_key(asset.s3_key)
            except InvalidAssetKey as exc:
                outcome.assets.append(Outcome(asset.asset_id, "skipped", "skipped", code="invalid_key",
                                              message=str(exc)))
                continue
            if key.asset_id != asset.asset_id or key.course_id != course_id:
                outcome.assets.append(Outcome(asset.asset_id, "skipped", "skipped", code="invalid_key",
                                              message=f"{asset.s3_key} is not this course's asset"))
                continue
            outcome.assets.append(self.ingest_object(key, source=source))
        repository.lock_course(conn, course_id)
        live = repository.live_version(conn, course_id, for_update=True)
        if live is not None and live.version > version:
            outcome.reason = f"version {live.version} became live meanwhile"
            return outcome
        # Deleted assets cannot come back, even if this version still lists them.
        sets = {o.asset_id: o.chunk_set_id for o in outcome.assets
                if o.status == "ready" and o.chunk_set_id is not None
                and not repository.is_asset_deleted(conn, o.asset_id)}
        repository.switch_live(conn, course_id=course_id, version=version,
                            assets=[a.model_dump(mode="json") for a in assets], published_at=published_at,
                            chunk_sets=sets)
        outcome.switched = True
        if self.after_live is not None:
            self.after_live(conn, course_id, version)
        logger.info("course version live", extra={"course_id": str(course_id), "version": version,
                                                  "live_assets": len(sets), "assets": len(assets)})
        return outcome

    def on_asset_deleted(self, conn: psycopg.Connection[Any], event: AssetDeleted) -> RemovalOutcome:
        purged = repository.purge_asset(conn, event.asset_id, course_id=event.course_id, s3_key=event.s3_key)
        logger.info("asset deleted: index purged", extra={"asset_id": str(event.asset_id),
                                                          "documents": purged.documents,
                                                          "chunk_sets": purged.chunk_sets})
        return RemovalOutcome(event.asset_id, purged.documents, purged.chunk_sets)


def _now(conn: psycopg.Connection[Any]) -> Any:
    row = conn.execute("SELECT now() AS now").fetchone()
    return row["now"]  # type: ignore[index]


def _rejection_for(exc: Exception) -> Rejection:
    """Extraction and chunking work on bytes alone: whatever they raise, retrying gives the same."""
    from smartcourse.ai.extract import ExtractionError

    if isinstance(exc, ExtractionError):
        return Rejection(exc.code, exc.message)
    if isinstance(exc, DependencyUnavailable | MemoryError):
        raise exc
    logger.exception("unexpected error while reading a document")
    return Rejection("processing_error",
                     f"the document could not be processed ({type(exc).__name__}); re-upload it or contact support")
