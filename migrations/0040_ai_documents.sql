-- AI service: one row per indexed (asset, content) pair; the ingestion issue extends it.
-- The LMS reads an asset's processing status only through ai.asset_index_status (read-only).
CREATE TABLE ai.documents (
    id            uuid PRIMARY KEY,
    asset_id      uuid NOT NULL,
    course_id     uuid NOT NULL,
    s3_key        text NOT NULL,
    content_hash  text,
    status        text NOT NULL CHECK (status IN ('uploaded', 'processing', 'ready', 'failed', 'deleted')),
    error_code    text,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_asset_idx ON ai.documents (asset_id, created_at DESC);
CREATE INDEX documents_course_idx ON ai.documents (course_id);

-- The latest document of each asset: what the LMS asset listing shows as the asset's status.
CREATE VIEW ai.asset_index_status AS
SELECT DISTINCT ON (asset_id) asset_id, course_id, status, error_code, error, updated_at
FROM ai.documents
ORDER BY asset_id, created_at DESC;
