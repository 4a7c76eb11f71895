"""The pure helpers of `bench scale` and bench/retrieval_kit.py: how rows spread over courses and
chunk sets, recall against exact answers, sizes on the command line. No services, no clock."""

from __future__ import annotations

import uuid

import pytest

from bench import retrieval_kit as kit
from bench.bench_scale import parse_sizes, size_label


def test_one_course_is_cut_into_chunk_sets_of_100_in_row_order() -> None:
    blocks = kit.spread(10_000, 1, 100)
    assert len(blocks) == 100
    assert {b.course for b in blocks} == {0}
    assert [b.start for b in blocks] == list(range(0, 10_000, 100))
    assert {b.length for b in blocks} == {100}


def test_many_courses_get_even_contiguous_blocks_and_small_courses_one_set() -> None:
    blocks = kit.spread(10_000, 1_000, 100)  # 10 chunks a course: one chunk set of 10 each
    assert len(blocks) == 1_000
    assert [(b.course, b.start, b.length) for b in blocks[:2]] == [(0, 0, 10), (1, 10, 10)]
    big = kit.spread(1_000_000, 1_000, 100)  # 1,000 a course: 10 sets of 100
    assert len(big) == 10_000
    assert sum(b.length for b in big if b.course == 999) == 1_000
    assert big[-1].start + big[-1].length == 1_000_000


def test_a_course_size_that_is_not_a_multiple_of_the_set_size_keeps_every_row() -> None:
    blocks = kit.spread(2_500, 10, 100)  # 250 a course: 100 + 100 + 50
    assert [b.length for b in blocks if b.course == 0] == [100, 100, 50]
    assert sum(b.length for b in blocks) == 2_500


def test_uneven_spreads_are_refused() -> None:
    with pytest.raises(ValueError):
        kit.spread(10_001, 1_000, 100)


def test_recall_counts_the_exact_answers_found_over_all_questions() -> None:
    truth = [{1, 2, 3, 4}, {5, 6}]
    assert kit.recall([{1, 2, 3, 4}, {5, 6}], truth) == 1.0
    assert kit.recall([{1, 2, 9}, {6, 7}], truth) == pytest.approx(3 / 6)
    assert kit.recall([set(), set()], [set(), set()]) == 0.0


def test_content_of_a_chunk_wraps_around_the_corpus() -> None:
    asset = uuid.uuid4()
    loaded = kit.Loaded([], {}, asset_start={asset: 3_950}, corpus_size=4_000)
    assert loaded.content(asset, 10) == 3_960
    assert loaded.content(asset, 60) == 10


def test_sizes_are_read_with_k_and_m() -> None:
    assert parse_sizes("1m, 10k,100k,10k") == [10_000, 100_000, 1_000_000]
    assert [size_label(n) for n in (10_000, 100_000, 1_000_000)] == ["10k", "100k", "1M"]
    for bad in ("", "ten", "1500", "-10k"):
        with pytest.raises(ValueError):
            parse_sizes(bad)
