"""Small, dependency-free text helpers: terms for lexical scoring and sentence splitting."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A compact English stop list (function words and question words carry no evidence).
_STOP_TEXT = """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also may might must shall one many much us s t
tell explain describe give please mean means called named kind type sort sorry rather actually
"""
STOPWORDS = frozenset(_STOP_TEXT.split())

_RSQUO = "\u2019"
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "dr.", "mr.", "mrs.", "ms.", "prof.", "st.", "no.",
                  "fig.", "approx.", "u.s.", "u.k.", "ca.", "jr.", "sr.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”')\]]*\s+(?=[\"“(\[]?[A-Z0-9])")


def stem(word: str) -> str:
    """A light suffix stripper (plural, -ing, -ed, -ly): enough to match 'indexes' with 'index'."""
    w = word.lower().replace(_RSQUO, "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "xes", "ches", "shes")):
        return w[:-2]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
        return w[:-1] if len(w) > 3 and w[-1] == w[-2] else w
    if len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
        return w[:-1] if len(w) > 3 and w[-1] == w[-2] else w
    if len(w) > 4 and w.endswith("ly"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def terms(text: str) -> list[str]:
    """Content terms of `text`, stemmed, stop words dropped, in order (repeats kept)."""
    return [stem(w) for w in words(text) if (w.lower() not in STOPWORDS and len(w) > 1) or w.isdigit()]


def term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def coverage(query_terms: Iterable[str], text_terms: Iterable[str]) -> float:
    """Share of the query's distinct terms that occur in the text (0 when the query has none)."""
    q = set(query_terms)
    if not q:
        return 0.0
    return len(q & set(text_terms)) / len(q)


def sentences(text: str) -> list[str]:
    """Sentences of `text`: lines first (lists, headings), then sentence ends inside each line."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        line = " ".join(block.split())
        if not line:
            continue
        start = 0
        for m in _SENTENCE_END.finditer(line):
            head = line[start:m.start()].strip()
            last = head.rsplit(" ", 1)[-1].lower() if head else ""
            if last in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last):
                continue
            if head:
                out.append(head)
            start = m.end()
        tail = line[start:].strip()
        if tail:
            out.append(tail)
    return out


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"
