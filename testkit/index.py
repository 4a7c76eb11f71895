"""Probes of a course's live index for tests: which live chunks are nearest a vector, or match
a web-search query (plain ``ts_rank_cd``). Not the product's ranking (that is
`smartcourse.assistant.retrieval`); these only read through ``ai.live_chunk_sets`` as it does, so
a test sees what a learner's question could reach."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from smartcourse.ai.repository import DIMENSIONS


@dataclass(frozen=True, slots=True)
class ChunkHit:
    chunk_id: int
    chunk_set_id: uuid.UUID
    asset_id: uuid.UUID
    ordinal: int
    title: str
    text: str
    metadata: dict[str, Any]
    score: float  # vector: cosine similarity (1 - distance); text: ts_rank_cd


#: Vector search within a course's live chunk sets (cosine distance, HNSW). Parameters:
#: (query vector, course_id, query vector, k). Iterative scan (pgvector >= 0.8) keeps reading
#: the index until k rows pass the course filter; relaxed order is re-sorted outside.
LIVE_VECTOR_SQL = """
SELECT chunk_id, chunk_set_id, asset_id, ordinal, title, text, metadata, 1 - distance AS score
FROM (
    SELECT c.id AS chunk_id, c.chunk_set_id, c.asset_id, c.ordinal, c.title, c.text, c.metadata,
           c.embedding <=> %s AS distance
    FROM ai.chunks c
    WHERE c.chunk_set_id IN (SELECT chunk_set_id FROM ai.live_chunk_sets WHERE course_id = %s)
    ORDER BY c.embedding <=> %s
    LIMIT %s
) hits
ORDER BY distance
"""

#: Full-text search within a course's live chunk sets. Parameters: (query, course_id, k).
LIVE_TEXT_SQL = """
SELECT c.id AS chunk_id, c.chunk_set_id, c.asset_id, c.ordinal, c.title, c.text, c.metadata,
       ts_rank_cd(c.tsv, q) AS score
FROM ai.chunks c, websearch_to_tsquery('english', %s) q
WHERE c.chunk_set_id IN (SELECT chunk_set_id FROM ai.live_chunk_sets WHERE course_id = %s)
  AND c.tsv @@ q
ORDER BY score DESC, c.id
LIMIT %s
"""


def search_live_vector(conn: psycopg.Connection[Any], course_id: uuid.UUID, embedding: Any, k: int = 10, *,
                       ef_search: int = 100) -> list[ChunkHit]:
    """The ``k`` live chunks of the course nearest to ``embedding`` (a 384-float vector)."""
    vector = np.asarray(embedding, dtype=np.float32)
    if vector.shape != (DIMENSIONS,):
        raise ValueError(f"expected a {DIMENSIONS}-dimension query vector")
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', "
                     "'relaxed_order', true)", (str(int(ef_search)),))
        rows = conn.execute(LIVE_VECTOR_SQL, (vector, course_id, vector, k)).fetchall()
    return [ChunkHit(**r) for r in rows]


def search_live_text(conn: psycopg.Connection[Any], course_id: uuid.UUID, query: str, k: int = 10) -> list[ChunkHit]:
    """The ``k`` live chunks of the course that best match ``query`` (web-search syntax)."""
    rows = conn.execute(LIVE_TEXT_SQL, (query, course_id, k)).fetchall()
    return [ChunkHit(**r) for r in rows]
