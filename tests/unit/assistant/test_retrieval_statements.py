"""The retrieval statements' variants (no database): which filter the planner gets to estimate."""

from __future__ import annotations

from smartcourse.assistant import retrieval

BARE = "c.chunk_set_id = ANY(%(sets)s::uuid[]) AND"
WRAPPED = "coalesce(c.chunk_set_id = ANY(%(sets)s::uuid[]), false) AND"


def test_the_vector_query_wraps_a_long_set_list_only() -> None:
    short, long = retrieval.vector_sql(retrieval.WRAPPED_SETS - 1), retrieval.vector_sql(retrieval.WRAPPED_SETS)
    assert BARE in short and "coalesce" not in short
    assert WRAPPED in long
    # the same statement otherwise
    assert long.replace(WRAPPED, BARE) == short


def test_the_text_ranking_always_wraps_the_set_list_and_names_the_course_as_asked() -> None:
    keyed = retrieval._bm25_sql(3, False, True).as_string(None)
    unkeyed = retrieval._bm25_sql(3, False, False).as_string(None)
    assert "coalesce(c.chunk_set_id = ANY(%(sets)s::uuid[]), false)" in keyed
    assert "WHERE c.course_id = %(course)s AND c.body @@" in keyed
    assert "WHERE coalesce(c.course_id = %(course)s, false) AND c.body @@" in unkeyed
    assert unkeyed.replace("coalesce(c.course_id = %(course)s, false)", "c.course_id = %(course)s") == keyed
