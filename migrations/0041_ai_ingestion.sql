-- AI ingestion (issue 5): documents grow their processing record; chunk sets hold the embedded
-- chunks of one (asset, content, model); live_chunk_sets says which chunk set of each asset the
-- course's published version serves. Retrieval reads chunks only through live_chunk_sets.

-- One row per (asset object, model): what arrived, what we did with it, how long it took.
ALTER TABLE ai.documents
    ADD COLUMN filename            text,
    ADD COLUMN declared_type       text,          -- content type the LMS recorded for the asset
    ADD COLUMN object_type         text,          -- Content-Type S3 stored for the object
    ADD COLUMN declared_size_bytes bigint,
    ADD COLUMN size_bytes          bigint,        -- the real object size
    ADD COLUMN etag                text,          -- the S3 object's ETag (object identity)
    ADD COLUMN source              text NOT NULL DEFAULT 's3'
        CHECK (source IN ('s3', 'publish', 'reindex')),
    ADD COLUMN format              text,          -- pdf | markdown | html | text | vtt | srt | docx | pptx
    ADD COLUMN title               text,
    ADD COLUMN model_name          text,
    ADD COLUMN model_version       text,
    ADD COLUMN chunk_set_id        uuid,
    ADD COLUMN reused              boolean NOT NULL DEFAULT false,  -- chunk set reused by content hash
    ADD COLUMN section_count       integer,
    ADD COLUMN chunk_count         integer,
    ADD COLUMN token_count         integer,
    ADD COLUMN attempts            integer NOT NULL DEFAULT 0,
    ADD COLUMN download_ms         integer,
    ADD COLUMN extract_ms          integer,
    ADD COLUMN chunk_ms            integer,
    ADD COLUMN embed_ms            integer,
    ADD COLUMN store_ms            integer,
    ADD COLUMN started_at          timestamptz,
    ADD COLUMN finished_at         timestamptz,
    -- Last time this object arrived (an identical re-upload makes an old row current again).
    ADD COLUMN last_seen_at        timestamptz NOT NULL DEFAULT now();

-- A delivery of the same object (same key and ETag) for the same model is the same document:
-- duplicate S3 events and a publish racing an upload find the row instead of adding one.
CREATE UNIQUE INDEX documents_object_model_uidx
    ON ai.documents (asset_id, s3_key, etag, model_version);

-- The embedded chunks of one content of one asset, by one model. Built beside the previous
-- content's set; never modified once written; deleted when the asset is purged.
CREATE TABLE ai.chunk_sets (
    id            uuid PRIMARY KEY,
    course_id     uuid NOT NULL,
    asset_id      uuid NOT NULL,
    s3_key        text NOT NULL,
    content_hash  text NOT NULL,                  -- sha256 of the object bytes
    model_name    text NOT NULL,
    model_version text NOT NULL,
    format        text NOT NULL,
    title         text NOT NULL DEFAULT '',
    chunk_count   integer NOT NULL CHECK (chunk_count > 0),
    token_count   integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (asset_id, content_hash, model_version)
);
CREATE INDEX chunk_sets_hash_idx ON ai.chunk_sets (content_hash, model_version);
CREATE INDEX chunk_sets_course_idx ON ai.chunk_sets (course_id);

ALTER TABLE ai.documents
    ADD CONSTRAINT documents_chunk_set_fk FOREIGN KEY (chunk_set_id)
        REFERENCES ai.chunk_sets (id) ON DELETE SET NULL;

CREATE TABLE ai.chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_set_id uuid NOT NULL REFERENCES ai.chunk_sets (id) ON DELETE CASCADE,
    course_id    uuid NOT NULL,
    asset_id     uuid NOT NULL,
    ordinal      integer NOT NULL CHECK (ordinal >= 0),
    title        text NOT NULL DEFAULT '',        -- the document's title
    text         text NOT NULL,                   -- context line + body, as embedded
    metadata     jsonb NOT NULL DEFAULT '{}',     -- location (page | heading_path | start/end | slide), context
    token_count  integer NOT NULL,
    embedding    vector(384) NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS
                     (to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || text)) STORED,
    UNIQUE (chunk_set_id, ordinal)
);
CREATE INDEX chunks_embedding_hnsw_idx ON ai.chunks
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX chunks_tsv_gin_idx ON ai.chunks USING gin (tsv);
CREATE INDEX chunks_course_idx ON ai.chunks (course_id);

-- The published version each course serves, and its asset list as the event carried it
-- (reindex replays it). Versions only move forward: an older course.published is ignored.
CREATE TABLE ai.course_live_versions (
    course_id    uuid PRIMARY KEY,
    version      integer NOT NULL CHECK (version > 0),
    assets       jsonb NOT NULL DEFAULT '[]',
    published_at timestamptz,
    switched_at  timestamptz NOT NULL DEFAULT now()
);

-- Which chunk set of each asset the live version serves. Replaced for a whole course in one
-- transaction, so a query never sees the old and the new content of an asset together.
CREATE TABLE ai.live_chunk_sets (
    course_id      uuid NOT NULL,
    asset_id       uuid NOT NULL,
    chunk_set_id   uuid NOT NULL REFERENCES ai.chunk_sets (id) ON DELETE CASCADE,
    course_version integer NOT NULL,
    activated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, asset_id)
);
CREATE INDEX live_chunk_sets_set_idx ON ai.live_chunk_sets (chunk_set_id);

-- Assets deleted in the LMS (asset.deleted): a late upload event or an old version's publish
-- event must not bring them back.
CREATE TABLE ai.deleted_assets (
    asset_id   uuid PRIMARY KEY,
    course_id  uuid,
    s3_key     text,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- The LMS asset listing's status: the most recently arrived object of each asset, unless purged
-- (uploaded | processing | ready | failed, with error_code and a readable error).
CREATE INDEX documents_asset_seen_idx ON ai.documents (asset_id, last_seen_at DESC, created_at DESC);
CREATE OR REPLACE VIEW ai.asset_index_status AS
SELECT DISTINCT ON (asset_id) asset_id, course_id, status, error_code, error, updated_at
FROM ai.documents
WHERE status <> 'deleted'
ORDER BY asset_id, last_seen_at DESC, created_at DESC;
