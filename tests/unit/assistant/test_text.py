from __future__ import annotations

from smartcourse.assistant import text as tx


def test_terms_drop_stop_words_and_stem_lightly() -> None:
    assert tx.terms("What are the indexes used for, running queries?") == ["index", "used", "run", "query"]
    assert tx.terms("Earth's moons in 1969") == ["earth", "moon", "1969"]


def test_sentences_split_on_ends_and_lines_but_not_abbreviations_or_decimals() -> None:
    got = tx.sentences("Heading\n\nThe U.S. is large. It has e.g. states! Is 3.5 big? Yes.\n- one item\n- two")
    assert got == ["Heading", "The U.S. is large.", "It has e.g. states!", "Is 3.5 big?", "Yes.", "- one item",
                   "- two"]


def test_coverage_and_shorten() -> None:
    assert tx.coverage({"moon", "orbit"}, ["moon"]) == 0.5
    assert tx.coverage(set(), ["moon"]) == 0.0
    assert tx.shorten("a b c d e f", 6) == "a b c…"
    assert tx.shorten("short", 10) == "short"
