-- The text ranking's GIN index without a pending list (issue 13, part 5).
--
-- With GIN's default fastupdate = on, new entries (every chunk an ingestion writes) go to an
-- unsorted pending list, merged into the index only by vacuum, by autoanalyze, by
-- gin_clean_pending_list, or by the insert that finds the list over gin_pending_list_limit (4 MB,
-- 512 pages). Until then every scan of the index reads the whole list, whatever course it asks
-- for; autoanalyze comes after 10 % of the table changed, so on a large table with ingestion under
-- way the list is seldom empty. Measured on the chunks of two dev
-- courses, the same rows with all of them merged or 128-145 pages pending, the candidates' index
-- scan alone, interleaved: p50 0.17 -> 0.64 ms (celery, 1,093 chunks) and 1.18 -> 2.56 ms
-- (sqlalchemy, 4,531). Writing straight into the index cost 0.1 ms more a chunk (4,531 rows in one
-- statement per document: 150 -> 640 ms), against about 20 ms a chunk for its embedding.
-- docs/assistant.md, "No GIN pending list".
ALTER INDEX ai.chunk_bodies_course_body_gin_idx SET (fastupdate = off);
-- fastupdate = off stops new entries from joining the list; what it holds now is merged here.
SELECT gin_clean_pending_list('ai.chunk_bodies_course_body_gin_idx'::regclass);
