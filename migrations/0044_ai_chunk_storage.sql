-- Keep a chunk's embedding and tsvector inside its heap row (issue 13, part 5).
--
-- pgvector's `vector` defaults to STORAGE EXTERNAL: a row over the ~2 kB TOAST threshold (a
-- 384-dimension vector is 1,544 bytes, the chunk's text ~600 and its tsvector ~750) has its
-- largest out-of-line column, the embedding, moved to the TOAST table, so an exact distance scan
-- over a course's chunks (what the planner picks for a course of a few thousand chunks) fetches
-- one TOAST tuple per chunk. Measured on a 4,531-chunk course: 13 ms with the vector in TOAST,
-- 4.7 ms inline. PLAIN keeps the vector in the row; MAIN keeps the tsvector there too
-- (compressed if needed: the BM25 side reads it for every candidate), so it is the chunk's
-- text that goes to TOAST, which only the final ~18 rows of a question read.
--
-- SET STORAGE applies to rows written from now on: chunk sets written before keep their layout
-- until their asset is indexed again (every new version of an asset writes a new chunk set).
ALTER TABLE ai.chunks ALTER COLUMN embedding SET STORAGE PLAIN;
ALTER TABLE ai.chunks ALTER COLUMN tsv SET STORAGE MAIN;
