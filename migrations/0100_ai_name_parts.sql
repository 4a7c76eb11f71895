-- Dotted names in the lexical index: "Session.flush()" also yields "session" and "flush" (issue 13).
--
-- PostgreSQL's parser reads a dotted name (Session.flush, numpy.int64, os.path.join,
-- django.db.models) as one host or file token and indexes it whole: a question that says
-- "flush()" had no lexeme in common with a chunk that says "Session.flush()", in the text ranking,
-- in the search route's lexical side and in the evidence test. The chunk's tsvector now also holds
-- the parts of each dotted name, as the parser already does for hyphenated words ("breadth-first":
-- 'breadth-first', 'breadth', 'first'); the question gets the same parts
-- (smartcourse.assistant.lexical.with_name_parts, this function's twin). Measured on the five
-- documentation dev sets (docs/evaluation.md): hybrid MRR@10 summed 3.261 -> 3.336, recall@5
-- 4.098 -> 4.080 (one sqlalchemy question).
--
-- Cost of this migration: SET EXPRESSION rewrites ai.chunks and rebuilds its indexes (the HNSW
-- one too) under an exclusive lock, so retrieval waits for it; the side table and the course
-- statistics are then rebuilt from the new tsvectors (docs/assistant.md, "Dotted names").
CREATE FUNCTION ai.name_parts(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(replace(m[1], '.', ' '), ' '), '')
    FROM regexp_matches(t, '([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)', 'g') AS m
$$;

-- The chunk's text without the context line it starts with (as migration 0043's expression).
CREATE FUNCTION ai.chunk_body(body text, context text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(context, '') <> '' AND starts_with(body, context)
                THEN substr(body, length(context) + 1) ELSE body END
$$;

ALTER TABLE ai.chunks ALTER COLUMN tsv SET EXPRESSION AS (
    setweight(to_tsvector('english'::regconfig, coalesce(metadata->>'context', '')), 'A')
    || setweight(to_tsvector('english'::regconfig, ai.name_parts(coalesce(metadata->>'context', ''))), 'A')
    || to_tsvector('english'::regconfig, ai.chunk_body(text, metadata->>'context'))
    || to_tsvector('english'::regconfig, ai.name_parts(ai.chunk_body(text, metadata->>'context')))
);

-- A table rewrite fires no row or statement triggers: the side table and the statistics are
-- rebuilt here (as migrations 0099 and 0043 first filled them).
TRUNCATE ai.chunk_bodies;
INSERT INTO ai.chunk_bodies (chunk_id, course_id, chunk_set_id, asset_id, body, doc_length)
SELECT id, course_id, chunk_set_id, asset_id, ts_filter(tsv, '{d}'), length(tsv) FROM ai.chunks;

DELETE FROM ai.course_terms;
INSERT INTO ai.course_terms (course_id, lexeme, df)
SELECT l.course_id, u.lexeme, count(*)
FROM ai.live_chunk_sets l
JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
CROSS JOIN LATERAL unnest(c.tsv) AS u
GROUP BY l.course_id, u.lexeme;

UPDATE ai.course_lexicon x
SET avg_length = s.avg_length, chunks = s.chunks, refreshed_at = now()
FROM (SELECT l.course_id, count(c.id) AS chunks, coalesce(avg(length(c.tsv)), 0) AS avg_length
      FROM ai.live_chunk_sets l JOIN ai.chunks c ON c.chunk_set_id = l.chunk_set_id
      GROUP BY l.course_id) s
WHERE s.course_id = x.course_id;
