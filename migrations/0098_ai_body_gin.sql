-- BM25 candidates by the chunk's BODY (issue 13, bench retrieval): the lexical ranking scores body
-- positions only (weight 'D'; the context line, weighted 'A', repeats the page title and heading
-- path in every chunk of a page). A GIN index cannot test weights, so with the (course_id, tsv)
-- index a query for 'x':D found every chunk whose context line holds x too and rechecked each one
-- on the heap: at 100,000 chunks of one course, up to 6,000 rows read and thrown away for 1,000
-- kept (12.5 -> 5.6 ms for such a question). An index of the body alone answers exactly, and
-- replaces the old one (nothing else searches tsv through an index).
CREATE INDEX chunks_course_body_gin_idx ON ai.chunks USING gin (course_id, ts_filter(tsv, '{d}'));
DROP INDEX ai.chunks_course_tsv_gin_idx;
