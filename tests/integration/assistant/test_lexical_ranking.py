"""BM25 on real Postgres: per-course term statistics kept with the live chunk sets, rare terms
and context (title, headings) matches ranking first, and the statistics following deletions."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from smartcourse.ai import repository
from smartcourse.ai.embeddings import MiniLMEmbedder
from smartcourse.assistant.retrieval import _TF, Retrieval, Retriever
from smartcourse.db import Database, register_pgvector
from testkit.courses import Material, MemoryObjects, create_course, create_user, index_course, ingestion_service
from tests.integration.assistant.conftest import World

pytestmark = pytest.mark.integration


def _live_stats(db: Database, course_id: uuid.UUID) -> tuple[dict[str, int], int]:
    """(df per lexeme, chunks) recomputed from the live chunks, to compare with the stored ones."""
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT u.lexeme, count(*) AS df FROM ai.live_chunk_sets l JOIN ai.chunks c ON c.chunk_set_id = "
            "l.chunk_set_id CROSS JOIN LATERAL unnest(c.tsv) u WHERE l.course_id = %s GROUP BY u.lexeme",
            (course_id,)).fetchall()
        n = conn.execute("SELECT count(*) AS n FROM ai.live_chunk_sets l JOIN ai.chunks c "
                         "ON c.chunk_set_id = l.chunk_set_id WHERE l.course_id = %s", (course_id,)).fetchone()
    assert n is not None
    return {r["lexeme"]: int(r["df"]) for r in rows}, int(n["n"])


def _stored_stats(db: Database, course_id: uuid.UUID) -> tuple[dict[str, int], int]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT lexeme, df FROM ai.course_terms WHERE course_id = %s", (course_id,)).fetchall()
        lex = conn.execute("SELECT chunks FROM ai.course_lexicon WHERE course_id = %s", (course_id,)).fetchone()
    return {r["lexeme"]: int(r["df"]) for r in rows}, int(lex["chunks"]) if lex else -1


def test_statistics_match_the_live_chunks_of_each_course(world: World) -> None:
    for course in (world.a, world.b):
        live = _live_stats(world.db, course.course_id)
        assert live[1] > 0
        assert _stored_stats(world.db, course.course_id) == live
    # the draft upload of course A is indexed but not live: its words are not counted
    assert "chees" not in _stored_stats(world.db, world.a.course_id)[0]


def test_term_frequency_is_read_exactly_from_the_body_positions(world: World) -> None:
    # BM25's tf comes from ts_rank over the body's positions (retrieval._TF): for every lexeme of
    # every live chunk it equals the number of its body (weight D) positions, 0 for context-only.
    tf = sql.SQL(_TF).format(lex=sql.SQL("quote_literal(u.lexeme)"))
    query = sql.SQL("""
        SELECT u.lexeme, (SELECT count(*) FROM unnest(u.weights) w WHERE w = 'D') AS expected, {tf} AS got
        FROM (SELECT c.tsv, ts_filter(c.tsv, '{{d}}') AS body FROM ai.chunks c
              JOIN ai.live_chunk_sets l ON l.chunk_set_id = c.chunk_set_id WHERE l.course_id = %s) c,
             unnest(c.tsv) u
        WHERE position('\\' in u.lexeme) = 0""").format(tf=tf)
    with world.db.transaction() as conn:
        rows = conn.execute(query, (world.a.course_id,)).fetchall()
    assert len(rows) > 50 and any(r["expected"] > 2 for r in rows) and any(r["expected"] == 0 for r in rows)
    assert [r for r in rows if r["got"] != r["expected"]] == []


_BODIES_DIFF = """
SELECT count(*) AS n FROM (
    (SELECT id, course_id, chunk_set_id, asset_id, ts_filter(tsv, '{d}')::text, length(tsv) FROM ai.chunks
     EXCEPT ALL SELECT chunk_id, course_id, chunk_set_id, asset_id, body::text, doc_length FROM ai.chunk_bodies)
    UNION ALL
    (SELECT chunk_id, course_id, chunk_set_id, asset_id, body::text, doc_length FROM ai.chunk_bodies
     EXCEPT ALL SELECT id, course_id, chunk_set_id, asset_id, ts_filter(tsv, '{d}')::text, length(tsv) FROM ai.chunks)
) d
"""


def test_the_bm25_side_table_follows_every_write_of_the_chunks(world: World, database_url: str) -> None:
    """ai.chunk_bodies (migration 0099), which the text ranking reads, is kept equal to ai.chunks by
    triggers: the ingestion's COPY, an update, a chunk set's deletion (cascade), a truncation."""
    def diff(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(_BODIES_DIFF).fetchone()
        assert row is not None
        return int(row[0])

    with psycopg.connect(database_url) as conn:  # one transaction, rolled back: the world stays as it is
        total = conn.execute("SELECT count(*) FROM ai.chunk_bodies").fetchone()
        assert total is not None and total[0] > 0
        assert diff(conn) == 0  # written by the ingestion's binary COPY
        conn.execute("UPDATE ai.chunks SET text = text || ' zyxwvut', metadata = metadata || "
                     "'{\"context\": \"Quuxly\"}' WHERE course_id = %s", (world.a.course_id,))
        assert diff(conn) == 0
        assert conn.execute("SELECT count(*) FROM ai.chunk_bodies WHERE body @@ 'zyxwvut'::tsquery "
                            "AND course_id = %s", (world.a.course_id,)).fetchone() == total_a(conn, world)
        conn.execute("DELETE FROM ai.chunk_sets WHERE id IN (SELECT chunk_set_id FROM ai.chunks "
                     "WHERE course_id = %s)", (world.b.course_id,))
        assert diff(conn) == 0
        assert conn.execute("SELECT count(*) FROM ai.chunk_bodies WHERE course_id = %s",
                            (world.b.course_id,)).fetchone() == (0,)
        conn.execute("TRUNCATE ai.chunks")
        assert conn.execute("SELECT count(*) FROM ai.chunk_bodies").fetchone() == (0,)
        conn.rollback()


def total_a(conn: psycopg.Connection[Any], world: World) -> tuple[int]:
    row = conn.execute("SELECT count(*) FROM ai.chunks WHERE course_id = %s", (world.a.course_id,)).fetchone()
    assert row is not None and row[0] > 0
    return (int(row[0]),)


def test_a_rare_term_and_a_heading_match_rank_first(world: World, embedder: MiniLMEmbedder) -> None:
    retriever = Retriever(embedder)
    with world.db.transaction() as conn:
        # "Tycho" appears in one chunk only, "Earth" in the body of two: the rarer term weighs more
        r = retriever.retrieve(conn, world.a.course_id, "Earth Tycho", 3, mode="text")
        assert r.passages and "Tycho" in r.passages[0].text
        # "maria" is a heading of the surface lesson: its chunk wins over chunks that only say "lunar"
        r = retriever.retrieve(conn, world.a.course_id, "lunar maria", 3, mode="text")
        assert r.passages and r.passages[0].location["heading_path"][-1] == "Maria"
        # words the course does not have give no lexical result (the vector side still answers)
        assert retriever.retrieve(conn, world.a.course_id, "zyxwvut quuxly", 3, mode="text").passages == []


def test_statistics_follow_a_new_version_and_a_deleted_asset(database_url: str, embedder: MiniLMEmbedder) -> None:
    # Given a course of two lessons, live
    db = Database(database_url, application_name="lexicon-tests", configure=register_pgvector)
    objects = MemoryObjects()
    ingestion = ingestion_service(database_url, objects, embedder)
    try:
        instructor = create_user(db, "instructor")
        course = create_course(db, objects, instructor, "Stats", [
            Material("a.md", "text/markdown", b"# Alpha\n\nQuokkas live on Rottnest island.\n", "Alpha"),
            Material("b.md", "text/markdown", b"# Beta\n\nWombats dig burrows in the bush.\n", "Beta"),
        ])
        assert index_course(db, ingestion, course).switched
        terms, chunks = _stored_stats(db, course.course_id)
        assert terms["quokka"] == 1 and terms["wombat"] == 1 and chunks == 2
        # When one asset is deleted
        with db.transaction() as conn:
            repository.purge_asset(conn, course.asset_ids["b.md"], course_id=course.course_id)
        # Then its terms leave the statistics in the same transaction
        terms, chunks = _stored_stats(db, course.course_id)
        assert "wombat" not in terms and terms["quokka"] == 1 and chunks == 1
        assert (terms, chunks) == _live_stats(db, course.course_id)
        # and its live row went with its chunk sets (retrieval scopes by the live rows alone, with no
        # test of ai.deleted_assets per question): no ranking returns it
        deleted = course.asset_ids["b.md"]
        with db.transaction() as conn:
            assert conn.execute("SELECT count(*) AS n FROM ai.live_chunk_sets WHERE asset_id = %s",
                                (deleted,)).fetchone()["n"] == 0
            for mode in ("hybrid", "vector", "text"):
                found = Retriever(embedder).retrieve(conn, course.course_id, "wombats dig burrows", 5, mode=mode)
                assert deleted not in {p.asset_id for p in found.passages}, mode
    finally:
        ingestion.database.close()
        db.close()


def test_search_lists_each_page_once_and_retrieve_can_cap_chunks_per_asset(world: World,
                                                                           embedder: MiniLMEmbedder) -> None:
    from tests.integration.assistant.conftest import make_service

    retriever = Retriever(embedder)
    with world.db.transaction() as conn:
        # the Moon lesson has two sections (Orbit, Tides): both match "moon"
        every = retriever.retrieve(conn, world.a.course_id, "the moon orbit and tides", 6)
        capped = retriever.retrieve(conn, world.a.course_id, "the moon orbit and tides", 6, per_asset=1)
    assert len([p for p in every.passages if p.asset_id == world.a.asset_ids["moon.md"]]) >= 2
    assert len({p.asset_id for p in capped.passages}) == len(capped.passages) >= 1
    service = make_service(world, embedder, search_rate_limit_per_minute=1000)
    items = service.search(world.learner_a, world.a.course_id, "the moon orbit and tides", 10)["items"]
    assert items and len({i["asset_id"] for i in items}) == len(items)


def _passage_assets(world: World, message_id: str) -> list[str]:
    with world.db.transaction() as conn:
        row = conn.execute("SELECT retrieval FROM ai.messages WHERE id = %s", (message_id,)).fetchone()
    assert row is not None
    return [p["asset_id"] for p in row["retrieval"]["passages"]]


def test_an_answer_is_written_from_different_pages_unless_configured_otherwise(world: World,
                                                                                 embedder: MiniLMEmbedder) -> None:
    from tests.integration.assistant.conftest import make_service

    question = "What does the moon orbit and how do tides work?"
    # By default the passages an answer is written from are one per asset: a long page cannot fill
    # them with its neighbouring chunks and push the other sources out
    default = make_service(world, embedder, ask_rate_limit_per_minute=1000)
    spread = _passage_assets(world, default.ask(world.learner_a, world.a.course_id, question).body["message_id"])
    assert spread and len(set(spread)) == len(spread)
    # PASSAGES_PER_ASSET unset (None) lets one asset give several (the Moon lesson has two sections)
    unlimited = make_service(world, embedder, ask_rate_limit_per_minute=1000, passages_per_asset=None)
    every = _passage_assets(world, unlimited.ask(world.learner_a, world.a.course_id, question).body["message_id"])
    moon = str(world.a.asset_ids["moon.md"])
    assert every.count(moon) >= 2 and spread.count(moon) == 1


def test_the_candidate_budget_bounds_the_chunks_scored(world: World, embedder: MiniLMEmbedder) -> None:
    from smartcourse.assistant.lexical import Bm25Params
    from smartcourse.assistant.retrieval import RetrievalConfig

    # "moon" is in several chunks; with a budget of one posting only one chunk is scored
    wide = Retriever(embedder).retrieve
    narrow = Retriever(embedder, RetrievalConfig(bm25=Bm25Params(candidate_budget=1))).retrieve
    with world.db.transaction() as conn:
        assert len(wide(conn, world.a.course_id, "moon", 6, mode="text").passages) > 1
        assert len(narrow(conn, world.a.course_id, "moon", 6, mode="text").passages) == 1


def test_without_the_course_key_the_text_ranking_is_the_same_and_stays_in_its_course(
        world: World, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A course that is most of the index is searched without its GIN entry (the course id tested on
    the rows instead): forced here with a share of 0, on both courses of the world."""
    from smartcourse.assistant import retrieval
    from smartcourse.assistant.lexical import Bm25Params
    from smartcourse.assistant.retrieval import RetrievalConfig

    statements: list[str] = []
    original = retrieval._bm25_sql

    def recorded(n_terms: int, context: bool, course_key: bool) -> Any:
        statement = original(n_terms, context, course_key)
        statements.append(str(statement.as_string(None)))
        return statement

    monkeypatch.setattr(retrieval, "_bm25_sql", recorded)
    with world.db.transaction() as conn:  # the table's row estimate: unknown (-1) until analysed
        conn.execute("ANALYZE ai.chunk_bodies")
    keyed = Retriever(embedder, RetrievalConfig(bm25=Bm25Params(course_key_max_share=1.0)))
    unkeyed = Retriever(embedder, RetrievalConfig(bm25=Bm25Params(course_key_max_share=0.0)))
    with world.db.transaction() as conn:
        for course in (world.a, world.b):
            own = set(course.asset_ids.values())
            for q in ("moon orbit", "How long does Phobos take to orbit Mars?", "tides", "secret orbital period"):
                with_key = keyed.retrieve(conn, course.course_id, q, 6, mode="text")
                without = unkeyed.retrieve(conn, course.course_id, q, 6, mode="text")
                assert _ranking(without) == _ranking(with_key), (course.course_id, q)
                assert {p.asset_id for p in without.passages} <= own, q
        # both courses hold "orbit": each finds it in its own material only
        assert unkeyed.retrieve(conn, world.a.course_id, "orbit", 6, mode="text").passages
        assert unkeyed.retrieve(conn, world.b.course_id, "orbit", 6, mode="text").passages
    keyed_where = "WHERE c.course_id = %(course)s AND c.body @@"
    unkeyed_where = "WHERE coalesce(c.course_id = %(course)s, false) AND c.body @@"
    keyed_n, unkeyed_n = sum(keyed_where in x for x in statements), sum(unkeyed_where in x for x in statements)
    assert keyed_n >= 6 and unkeyed_n == keyed_n + 2 and keyed_n + unkeyed_n == len(statements)


QUESTIONS = ("How long does the Moon take to orbit the Earth?", "lunar maria", "What causes spring tides?",
             "Earth Tycho", "zyxwvut quuxly")


def _ranking(r: Retrieval) -> list[tuple[Any, ...]]:
    """The passages as ranked, with what the answer and the evidence test read of each row."""
    return [(p.chunk_id, round(p.fused, 9), p.vector_rank, p.text_rank, sorted(p.lexemes), p.strict_match,
             round(p.similarity, 6), p.text, p.asset_id) for p in r.passages]


def test_the_text_ranking_beside_the_vector_query_ranks_as_one_connection(world: World,
                                                                          embedder: MiniLMEmbedder) -> None:
    # The assistant runs the text ranking on a second connection while the vector query runs:
    # the passages are the ones a single connection gives, row for row.
    alone = Retriever(embedder)
    beside = Retriever(embedder, lexical_db=Database(world.db.url, application_name="test-beside"))
    try:
        for q in QUESTIONS:
            vec = alone.embed_question(q)
            with world.db.transaction() as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                one = alone.retrieve(conn, world.a.course_id, q, 6, question_vec=vec)
                two = beside.retrieve(conn, world.a.course_id, q, 6, question_vec=vec)
            assert "text_wait" in two.timings_ms and "text_wait" not in one.timings_ms  # it did run beside
            assert _ranking(two) == _ranking(one), q
            assert two.terms == one.terms
            if q != QUESTIONS[-1]:  # the last one's words are in no chunk
                assert any(p.text_rank is not None for p in two.passages), q
    finally:
        beside.close()


def test_the_text_ranking_beside_reads_the_callers_snapshot(world: World, embedder: MiniLMEmbedder) -> None:
    # The second connection imports the caller's snapshot: a change committed after the caller's
    # transaction began (here the course's term statistics removed) is not seen by either ranking.
    beside = Retriever(embedder, lexical_db=Database(world.db.url, application_name="test-beside"))
    other = Database(world.db.url, application_name="test-writer")
    course = world.a.course_id
    q = "Earth Tycho"
    with world.db.transaction() as conn:
        saved = conn.execute("SELECT lexeme, df FROM ai.course_terms WHERE course_id = %s", (course,)).fetchall()
    try:
        with world.db.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            before = beside.retrieve(conn, course, q, 6)
            assert any(p.text_rank is not None for p in before.passages)
            with other.transaction() as w:
                w.execute("DELETE FROM ai.course_terms WHERE course_id = %s", (course,))
            again = beside.retrieve(conn, course, q, 6)
        assert _ranking(again) == _ranking(before) and again.terms == before.terms
        with world.db.transaction() as conn:  # a new snapshot sees the change: no term has a df any more
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            after = beside.retrieve(conn, course, q, 6)
        assert all(p.text_rank is None for p in after.passages)
        # the question's words are still in the chunks, but a lexeme without a df counts for none
        assert any(p.lexemes for p in before.passages) and not any(p.lexemes for p in after.passages)
    finally:
        with other.transaction() as w:
            w.execute("DELETE FROM ai.course_terms WHERE course_id = %s", (course,))
            w.cursor().executemany("INSERT INTO ai.course_terms (course_id, lexeme, df) VALUES (%s, %s, %s)",
                                   [(course, r["lexeme"], r["df"]) for r in saved])
        other.close()
        beside.close()


def test_without_its_second_connection_retrieval_ranks_on_the_callers(world: World, embedder: MiniLMEmbedder) -> None:
    # The text ranking's connection cannot be opened (here: a database that does not exist): the
    # question is still answered, ranked on the caller's connection, and the next one does not try
    # the broken connection again.
    alone = Retriever(embedder)
    gone = make_conninfo(world.db.url, dbname="sc_no_such_database")
    broken = Retriever(embedder, lexical_db=Database(gone, application_name="test-broken", connect_timeout=2))
    try:
        q = QUESTIONS[0]
        vec = alone.embed_question(q)
        with world.db.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            one = alone.retrieve(conn, world.a.course_id, q, 6, question_vec=vec)
            two = broken.retrieve(conn, world.a.course_id, q, 6, question_vec=vec)
            three = broken.retrieve(conn, world.a.course_id, q, 6, question_vec=vec)
        assert _ranking(two) == _ranking(one) == _ranking(three)
        assert "text_wait" not in two.timings_ms and "text" in two.timings_ms
        assert broken.lexical_db is not None and broken.lexical_db._conn is None  # never connected
    finally:
        broken.close()


def test_the_candidates_index_keeps_no_pending_list(world: World, database_url: str) -> None:
    """Migration 0100: the text ranking's GIN index takes new chunks straight into its entries
    (fastupdate off). With GIN's default, the ingested chunks waited in a pending list that every
    question's index scan read whole, whatever its course (docs/assistant.md)."""
    with psycopg.connect(database_url) as conn:  # one transaction, rolled back: the world stays as it is
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        stats = conn.execute("SELECT pending_pages, pending_tuples FROM "
                             "pgstatginindex('ai.chunk_bodies_course_body_gin_idx')").fetchone()
        indexed = conn.execute("SELECT count(*) FROM ai.chunk_bodies").fetchone()
        # and rows written now, as an ingestion writes them, go straight into the index too
        conn.execute("INSERT INTO ai.chunks (chunk_set_id, asset_id, course_id, ordinal, title, text, token_count, "
                     "embedding, metadata) SELECT chunk_set_id, asset_id, course_id, ordinal + 100000, title, text, "
                     "token_count, embedding, metadata FROM ai.chunks WHERE course_id = %s", (world.a.course_id,))
        after = conn.execute("SELECT pending_tuples FROM pgstatginindex('ai.chunk_bodies_course_body_gin_idx')"
                             ).fetchone()
        conn.rollback()
    assert indexed is not None and indexed[0] > 0
    assert stats == (0, 0) and after == (0,)
