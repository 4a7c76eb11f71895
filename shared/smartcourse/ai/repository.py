"""pgvector storage of the AI index (schema ``ai``): documents, chunk sets, chunks, live sets.

Every function takes a psycopg connection (the caller owns the transaction) with pgvector's
types registered (``Database(configure=smartcourse.db.register_pgvector)``).

Model
-----
- ``ai.documents``: one row per arrived object (asset, key, ETag) and embedding model: status
  ``uploaded -> processing -> ready | failed`` (``deleted`` once purged), a stable
  ``error_code`` and a readable ``error``, counts and timings. ``ai.asset_index_status`` (the
  LMS asset listing's view) shows the latest one per asset.
- ``ai.chunk_sets``: the chunks of one (asset, content hash, model version), immutable. A
  re-uploaded asset gets a new set beside the old one; the same content reuses its set.
- ``ai.chunks``: text, ``metadata`` (location: page | heading_path | start/end | slide, and
  context), ``embedding vector(384)`` (HNSW, cosine), ``tsv`` (generated, english; GIN).
- ``ai.live_chunk_sets``: the chunk set of each asset that the course's published version
  serves, replaced for a whole course in one transaction (`switch_live`).

Searching a course
------------------
Reads go only through ``ai.live_chunk_sets``, so a query never mixes the old and new content of
an asset and never sees unpublished uploads: the assistant's hybrid ranking is
`smartcourse.assistant.retrieval`; tests check what is live with `testkit.index`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

DIMENSIONS = 384


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class DocumentRef:
    id: uuid.UUID
    status: str
    chunk_set_id: uuid.UUID | None
    created: bool  # False: this object (same key, ETag, model) had arrived before
    error_code: str | None = None


def claim_document(conn: psycopg.Connection[Any], *, asset_id: uuid.UUID, course_id: uuid.UUID, s3_key: str,
                   etag: str, model_name: str, model_version: str, source: str, filename: str | None,
                   declared_type: str | None, object_type: str | None, declared_size: int | None,
                   size_bytes: int | None) -> DocumentRef:
    """The document of this object and model: created as ``uploaded``, or the existing one
    (made the asset's current document again)."""
    row = conn.execute(
        """
        INSERT INTO ai.documents (id, asset_id, course_id, s3_key, etag, status, source, filename,
                                  declared_type, object_type, declared_size_bytes, size_bytes,
                                  model_name, model_version)
        VALUES (%s, %s, %s, %s, %s, 'uploaded', %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (asset_id, s3_key, etag, model_version)
        DO UPDATE SET last_seen_at = now()
        RETURNING id, status, chunk_set_id, error_code, (xmax = 0) AS created
        """,
        (uuid.uuid4(), asset_id, course_id, s3_key, etag, source, filename, declared_type, object_type,
         declared_size, size_bytes, model_name, model_version),
    ).fetchone()
    assert row is not None  # INSERT ... ON CONFLICT DO UPDATE ... RETURNING always returns the row
    return DocumentRef(row["id"], row["status"], row["chunk_set_id"], bool(row["created"]), row["error_code"])


_DOCUMENT_FIELDS = frozenset({
    "status", "error_code", "error", "content_hash", "format", "title", "chunk_set_id", "reused",
    "section_count", "chunk_count", "token_count", "download_ms", "extract_ms", "chunk_ms", "embed_ms",
    "store_ms", "started_at", "finished_at", "size_bytes", "object_type",
})


def update_document(conn: psycopg.Connection[Any], document_id: uuid.UUID, **fields: Any) -> None:
    unknown = set(fields) - _DOCUMENT_FIELDS
    if unknown:
        raise ValueError(f"not document fields: {sorted(unknown)}")
    assignments: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields]
    assignments.append(sql.SQL("updated_at = now()"))
    conn.execute(
        sql.SQL("UPDATE ai.documents SET {} WHERE id = %s").format(sql.SQL(", ").join(assignments)),
        (*fields.values(), document_id),
    )


def start_processing(conn: psycopg.Connection[Any], document_id: uuid.UUID) -> None:
    conn.execute(
        "UPDATE ai.documents SET status = 'processing', attempts = attempts + 1, started_at = now(), "
        "error_code = NULL, error = NULL, updated_at = now() WHERE id = %s",
        (document_id,),
    )


def fail_document(conn: psycopg.Connection[Any], document_id: uuid.UUID, code: str, message: str) -> None:
    conn.execute(
        "UPDATE ai.documents SET status = 'failed', error_code = %s, error = %s, finished_at = now(), "
        "updated_at = now() WHERE id = %s",
        (code, message[:1000], document_id),
    )


def current_objects(conn: psycopg.Connection[Any],
                    course_id: uuid.UUID | None = None) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(course_id, asset_id, s3_key) of every asset's current, not purged document."""
    query = ("SELECT DISTINCT ON (asset_id) course_id, asset_id, s3_key FROM ai.documents "
             "WHERE status <> 'deleted' AND asset_id NOT IN (SELECT asset_id FROM ai.deleted_assets) ")
    params: tuple[Any, ...] = ()
    if course_id is not None:
        query += "AND course_id = %s "
        params = (course_id,)
    query += "ORDER BY asset_id, last_seen_at DESC, created_at DESC"
    rows = conn.execute(query, params).fetchall()
    return [(r["course_id"], r["asset_id"], r["s3_key"]) for r in rows]


# --------------------------------------------------------------------------- chunk sets


@dataclass(frozen=True, slots=True)
class ChunkRow:
    ordinal: int
    text: str
    metadata: dict[str, Any]
    token_count: int


@dataclass(frozen=True, slots=True)
class NewChunkSet:
    course_id: uuid.UUID
    asset_id: uuid.UUID
    s3_key: str
    content_hash: str
    model_name: str
    model_version: str
    format: str
    title: str
    chunks: Sequence[ChunkRow] = field(default_factory=tuple)


def find_chunk_set(conn: psycopg.Connection[Any], asset_id: uuid.UUID, content_hash: str,
                   model_version: str) -> uuid.UUID | None:
    row = conn.execute(
        "SELECT id FROM ai.chunk_sets WHERE asset_id = %s AND content_hash = %s AND model_version = %s",
        (asset_id, content_hash, model_version),
    ).fetchone()
    return row["id"] if row is not None else None


def find_chunk_set_by_content(conn: psycopg.Connection[Any], content_hash: str,
                              model_version: str) -> uuid.UUID | None:
    """Any asset's chunk set of this content and model (an identical file uploaded twice)."""
    row = conn.execute(
        "SELECT id FROM ai.chunk_sets WHERE content_hash = %s AND model_version = %s ORDER BY created_at LIMIT 1",
        (content_hash, model_version),
    ).fetchone()
    return row["id"] if row is not None else None


_COPY_CHUNKS = (
    "COPY ai.chunks (chunk_set_id, course_id, asset_id, ordinal, title, text, metadata, token_count, embedding) "
    "FROM STDIN WITH (FORMAT BINARY)"
)
_COPY_TYPES = ["uuid", "uuid", "uuid", "int4", "text", "text", "jsonb", "int4", "vector"]


def insert_chunk_set(conn: psycopg.Connection[Any], new: NewChunkSet, embeddings: Any) -> tuple[uuid.UUID, bool]:
    """Store a chunk set and its chunks (binary COPY). Returns (id, created); when another
    worker stored the same (asset, content, model) first, its id and False."""
    if len(new.chunks) == 0:
        raise ValueError("a chunk set needs at least one chunk")
    if len(embeddings) != len(new.chunks):
        raise ValueError("one embedding per chunk")
    set_id = uuid.uuid4()
    row = conn.execute(
        """
        INSERT INTO ai.chunk_sets (id, course_id, asset_id, s3_key, content_hash, model_name, model_version,
                                   format, title, chunk_count, token_count)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (asset_id, content_hash, model_version) DO NOTHING
        RETURNING id
        """,
        (set_id, new.course_id, new.asset_id, new.s3_key, new.content_hash, new.model_name, new.model_version,
         new.format, new.title, len(new.chunks), sum(c.token_count for c in new.chunks)),
    ).fetchone()
    if row is None:
        existing = find_chunk_set(conn, new.asset_id, new.content_hash, new.model_version)
        assert existing is not None
        return existing, False
    with conn.cursor() as cur, cur.copy(_COPY_CHUNKS) as copy:
        copy.set_types(_COPY_TYPES)
        for chunk, vector in zip(new.chunks, embeddings, strict=True):
            copy.write_row((set_id, new.course_id, new.asset_id, chunk.ordinal, new.title, chunk.text,
                            chunk.metadata, chunk.token_count, vector))
    return set_id, True


def copy_chunk_set(conn: psycopg.Connection[Any], source_id: uuid.UUID, *, course_id: uuid.UUID,
                   asset_id: uuid.UUID, s3_key: str) -> tuple[uuid.UUID, bool]:
    """A new chunk set for another asset with the same content: chunks and vectors copied in SQL."""
    set_id = uuid.uuid4()
    row = conn.execute(
        """
        INSERT INTO ai.chunk_sets (id, course_id, asset_id, s3_key, content_hash, model_name, model_version,
                                   format, title, chunk_count, token_count)
        SELECT %s, %s, %s, %s, content_hash, model_name, model_version, format, title, chunk_count, token_count
        FROM ai.chunk_sets WHERE id = %s
        ON CONFLICT (asset_id, content_hash, model_version) DO NOTHING
        RETURNING id, content_hash, model_version
        """,
        (set_id, course_id, asset_id, s3_key, source_id),
    ).fetchone()
    if row is None:
        src = conn.execute("SELECT content_hash, model_version FROM ai.chunk_sets WHERE id = %s",
                           (source_id,)).fetchone()
        assert src is not None, f"chunk set {source_id} is gone"
        existing = find_chunk_set(conn, asset_id, src["content_hash"], src["model_version"])
        assert existing is not None
        return existing, False
    conn.execute(
        """
        INSERT INTO ai.chunks (chunk_set_id, course_id, asset_id, ordinal, title, text, metadata, token_count,
                               embedding)
        SELECT %s, %s, %s, ordinal, title, text, metadata, token_count, embedding
        FROM ai.chunks WHERE chunk_set_id = %s ORDER BY ordinal
        """,
        (set_id, course_id, asset_id, source_id),
    )
    return set_id, True


# --------------------------------------------------------------------------- live sets


@dataclass(frozen=True, slots=True)
class LiveVersion:
    course_id: uuid.UUID
    version: int
    assets: list[dict[str, Any]]
    published_at: datetime | None
    switched_at: datetime


def live_version(conn: psycopg.Connection[Any], course_id: uuid.UUID, *,
                 for_update: bool = False) -> LiveVersion | None:
    query = ("SELECT course_id, version, assets, published_at, switched_at FROM ai.course_live_versions "
             "WHERE course_id = %s")
    row = conn.execute(query + (" FOR UPDATE" if for_update else ""), (course_id,)).fetchone()
    if row is None:
        return None
    return LiveVersion(**row)


def live_courses(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    rows = conn.execute("SELECT course_id FROM ai.course_live_versions ORDER BY course_id").fetchall()
    return [r["course_id"] for r in rows]


def lock_course(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> None:
    """Serialise live switches of one course (transaction-scoped advisory lock)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 41))", (f"ai.live:{course_id}",))


def switch_live(conn: psycopg.Connection[Any], *, course_id: uuid.UUID, version: int,
                assets: list[dict[str, Any]], published_at: datetime | None,
                chunk_sets: dict[uuid.UUID, uuid.UUID]) -> None:
    """Make ``chunk_sets`` (asset -> chunk set) the course's live sets for ``version``.

    Call inside one transaction (after `lock_course`): readers see the old sets or the new
    ones, never a mix."""
    conn.execute(
        """
        INSERT INTO ai.course_live_versions (course_id, version, assets, published_at, switched_at)
        VALUES (%s, %s, %s, %s, now())
        ON CONFLICT (course_id) DO UPDATE SET version = EXCLUDED.version, assets = EXCLUDED.assets,
            published_at = EXCLUDED.published_at, switched_at = now()
        """,
        (course_id, version, Jsonb(assets), published_at),
    )
    conn.execute("DELETE FROM ai.live_chunk_sets WHERE course_id = %s", (course_id,))
    if chunk_sets:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ai.live_chunk_sets (course_id, asset_id, chunk_set_id, course_version) "
                "VALUES (%s, %s, %s, %s)",
                [(course_id, asset_id, set_id, version) for asset_id, set_id in chunk_sets.items()],
            )
    refresh_lexicon(conn, course_id)


def refresh_lexicon(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> None:
    """Rewrite the course's BM25 statistics (document frequency per lexeme, number of chunks,
    mean length) from its live chunk sets. Call in the transaction that changed them."""
    conn.execute("DELETE FROM ai.course_terms WHERE course_id = %s", (course_id,))
    conn.execute(
        """
        INSERT INTO ai.course_terms (course_id, lexeme, df)
        SELECT %(course)s, u.lexeme, count(*)
        FROM ai.live_chunk_sets l
        JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
        CROSS JOIN LATERAL unnest(c.tsv) AS u
        WHERE l.course_id = %(course)s
        GROUP BY u.lexeme
        """,
        {"course": course_id},
    )
    conn.execute(
        """
        INSERT INTO ai.course_lexicon (course_id, chunks, avg_length, refreshed_at)
        SELECT %(course)s, count(c.id), coalesce(avg(length(c.tsv)), 0), now()
        FROM ai.live_chunk_sets l JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
        WHERE l.course_id = %(course)s
        ON CONFLICT (course_id) DO UPDATE SET chunks = EXCLUDED.chunks, avg_length = EXCLUDED.avg_length,
            refreshed_at = EXCLUDED.refreshed_at
        """,
        {"course": course_id},
    )


def live_chunk_sets(conn: psycopg.Connection[Any], course_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """asset -> live chunk set of the course."""
    rows = conn.execute("SELECT asset_id, chunk_set_id FROM ai.live_chunk_sets WHERE course_id = %s",
                        (course_id,)).fetchall()
    pairs = (r for r in rows)
    return {p["asset_id"]: p["chunk_set_id"] for p in pairs}


# --------------------------------------------------------------------------- purge


@dataclass(frozen=True, slots=True)
class Purged:
    documents: int
    chunk_sets: int


def purge_asset(conn: psycopg.Connection[Any], asset_id: uuid.UUID, *, course_id: uuid.UUID | None = None,
                s3_key: str | None = None) -> Purged:
    """Remove every chunk set of the asset (live ones included) and remember it is deleted."""
    conn.execute(
        "INSERT INTO ai.deleted_assets (asset_id, course_id, s3_key) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (asset_id, course_id, s3_key),
    )
    documents = conn.execute(
        "UPDATE ai.documents SET status = 'deleted', chunk_set_id = NULL, updated_at = now() "
        "WHERE asset_id = %s AND status <> 'deleted'",
        (asset_id,),
    ).rowcount
    courses = _live_courses_of(conn, asset_id)
    sets = conn.execute("DELETE FROM ai.chunk_sets WHERE asset_id = %s", (asset_id,)).rowcount
    for course in courses:
        refresh_lexicon(conn, course)
    return Purged(documents, sets)


def purge_object(conn: psycopg.Connection[Any], asset_id: uuid.UUID, s3_key: str, *,
                 keep_etag: str | None = None) -> Purged:
    """Remove the documents and chunk sets of one object key: every content it had, except the
    object there now (``keep_etag``) when the key was written again after the removal."""
    documents = conn.execute(
        "UPDATE ai.documents SET status = 'deleted', chunk_set_id = NULL, updated_at = now() "
        "WHERE asset_id = %s AND s3_key = %s AND etag IS DISTINCT FROM %s AND status <> 'deleted'",
        (asset_id, s3_key, keep_etag),
    ).rowcount
    # Chunk sets of that key that no remaining document uses (live rows go with them).
    courses = _live_courses_of(conn, asset_id)
    sets = conn.execute(
        """
        DELETE FROM ai.chunk_sets s
        WHERE s.asset_id = %s AND s.s3_key = %s
          AND NOT EXISTS (SELECT 1 FROM ai.documents d WHERE d.chunk_set_id = s.id AND d.status <> 'deleted')
        """,
        (asset_id, s3_key),
    ).rowcount
    for course in courses if sets else ():
        refresh_lexicon(conn, course)
    return Purged(documents, sets)


def _live_courses_of(conn: psycopg.Connection[Any], asset_id: uuid.UUID) -> list[uuid.UUID]:
    """Courses serving a chunk set of the asset: their BM25 statistics change if it goes."""
    rows = conn.execute("SELECT DISTINCT course_id FROM ai.live_chunk_sets WHERE asset_id = %s",
                        (asset_id,)).fetchall()
    return [r["course_id"] for r in rows]


def is_asset_deleted(conn: psycopg.Connection[Any], asset_id: uuid.UUID) -> bool:
    return conn.execute("SELECT 1 FROM ai.deleted_assets WHERE asset_id = %s", (asset_id,)).fetchone() is not None
