-- Reconciliation (issue 8): IngestFunction's scheduled sweeper re-drives what a lost trigger left
-- behind. Documents record how often the sweeper restarted them after an interrupted processing;
-- assets the sweeper looked at without finding an object are remembered, so the next runs look at
-- the others first (no starvation behind abandoned uploads).

ALTER TABLE ai.documents
    ADD COLUMN sweeper_attempts   integer NOT NULL DEFAULT 0,  -- restarts by the sweeper
    ADD COLUMN sweeper_last_error text;                        -- why the last restart did not finish

ALTER TABLE ai.documents DROP CONSTRAINT documents_source_check;
ALTER TABLE ai.documents ADD CONSTRAINT documents_source_check
    CHECK (source IN ('s3', 'publish', 'reindex', 'sweeper'));

-- The sweeper's "stuck in processing" scan.
CREATE INDEX documents_processing_idx ON ai.documents (started_at) WHERE status = 'processing';

-- Declared assets the sweeper checked and found nothing to index for (no object yet).
CREATE TABLE ai.sweeper_asset_checks (
    asset_id        uuid PRIMARY KEY,
    checks          integer NOT NULL DEFAULT 1,
    last_checked_at timestamptz NOT NULL DEFAULT now(),
    last_result     text NOT NULL
);
