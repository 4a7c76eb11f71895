-- The BM25 side reads each candidate's body lexemes from a narrow table (issue 13, part 5).
--
-- The lexical ranking scores body positions only (weight 'D': ts_filter(tsv, '{d}')) and normalises
-- by length(tsv). Read from ai.chunks, every candidate (up to 1,000 a question) meant a ~2.6 kB row
-- whose tsvector is stored compressed (0044: STORAGE MAIN), decompressed, then filtered to its body.
-- Here each chunk's body is stored as its own small tsvector (about 0.7 kB, inline, no
-- decompression) with the length, so the candidates come from a quarter of the pages and need no
-- per-row work before scoring. Measured at 100,000 chunks in one course (bench retrieval's layout
-- (b), 200 questions, the statement alone, best of 2): p50 / p95 3.36 / 8.13 -> 2.80 / 5.20 ms.
-- A stored body column in ai.chunks instead was slower (6.6 / 15.0 ms: the wide row's TOAST).
--
-- ai.chunks stays the one written: statement triggers keep this table equal to it (COPY, INSERT,
-- DELETE including the chunk sets' cascade, UPDATE, TRUNCATE), so no writer can forget it.
CREATE TABLE ai.chunk_bodies (
    chunk_id     bigint PRIMARY KEY,
    course_id    uuid NOT NULL,
    chunk_set_id uuid NOT NULL,
    asset_id     uuid NOT NULL,
    body         tsvector NOT NULL,   -- ts_filter(chunks.tsv, '{d}'): the body's lexemes and positions
    doc_length   integer NOT NULL     -- length(chunks.tsv): BM25's document length
);
ALTER TABLE ai.chunk_bodies ALTER COLUMN body SET STORAGE MAIN;

-- One function for the four statement triggers: what an insert adds, a delete removes, an update
-- replaces (its old rows removed, its new ones added), and a truncation empties.
CREATE FUNCTION ai.chunk_bodies_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE ai.chunk_bodies;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM ai.chunk_bodies b USING removed o WHERE b.chunk_id = o.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ai.chunk_bodies (chunk_id, course_id, chunk_set_id, asset_id, body, doc_length)
        SELECT n.id, n.course_id, n.chunk_set_id, n.asset_id, ts_filter(n.tsv, '{d}'), length(n.tsv)
        FROM added n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chunk_bodies_insert AFTER INSERT ON ai.chunks
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ai.chunk_bodies_sync();
CREATE TRIGGER chunk_bodies_delete AFTER DELETE ON ai.chunks
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ai.chunk_bodies_sync();
CREATE TRIGGER chunk_bodies_update AFTER UPDATE ON ai.chunks
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ai.chunk_bodies_sync();
CREATE TRIGGER chunk_bodies_truncate AFTER TRUNCATE ON ai.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION ai.chunk_bodies_sync();

INSERT INTO ai.chunk_bodies (chunk_id, course_id, chunk_set_id, asset_id, body, doc_length)
SELECT id, course_id, chunk_set_id, asset_id, ts_filter(tsv, '{d}'), length(tsv) FROM ai.chunks;

-- The candidates' index (it was 0098's expression index on ai.chunks, which nothing else uses).
CREATE INDEX chunk_bodies_course_body_gin_idx ON ai.chunk_bodies USING gin (course_id, body);
DROP INDEX ai.chunks_course_body_gin_idx;
