-- BM25 lexical ranking (issue 13): per-course term statistics over the live chunk sets, a
-- fielded tsvector (the chunk's context line, i.e. document title > heading path, weighted 'A';
-- the body unweighted 'D'), and a (course_id, tsv) GIN index so a course's matches are found
-- without reading other courses' posting lists.
--
-- ai.course_terms / ai.course_lexicon are rewritten for a course in the transaction that
-- changes its live chunk sets (smartcourse.ai.storage.refresh_lexicon), so a reader's snapshot
-- sees statistics that match the chunks it searches.
CREATE EXTENSION IF NOT EXISTS btree_gin;

DROP INDEX IF EXISTS ai.chunks_tsv_gin_idx;
ALTER TABLE ai.chunks DROP COLUMN tsv;
ALTER TABLE ai.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(metadata->>'context', '')), 'A')
    || to_tsvector('english'::regconfig,
                   CASE WHEN coalesce(metadata->>'context', '') <> ''
                             AND starts_with(text, metadata->>'context')
                        THEN substr(text, length(metadata->>'context') + 1)
                        ELSE text END)
) STORED;
CREATE INDEX chunks_course_tsv_gin_idx ON ai.chunks USING gin (course_id, tsv);

-- Document frequency of each lexeme among the course's live chunks.
CREATE TABLE ai.course_terms (
    course_id uuid NOT NULL,
    lexeme    text NOT NULL,
    df        integer NOT NULL CHECK (df > 0),
    PRIMARY KEY (course_id, lexeme)
);

-- Collection statistics of the course's live chunks: N and the mean length (distinct lexemes).
CREATE TABLE ai.course_lexicon (
    course_id    uuid PRIMARY KEY,
    chunks       integer NOT NULL CHECK (chunks >= 0),
    avg_length   double precision NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

-- Backfill for courses already live.
INSERT INTO ai.course_terms (course_id, lexeme, df)
SELECT l.course_id, u.lexeme, count(*)
FROM ai.live_chunk_sets l
JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
CROSS JOIN LATERAL unnest(c.tsv) AS u
GROUP BY l.course_id, u.lexeme;

INSERT INTO ai.course_lexicon (course_id, chunks, avg_length)
SELECT l.course_id, count(c.id), coalesce(avg(length(c.tsv)), 0)
FROM ai.live_chunk_sets l
JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
GROUP BY l.course_id;
