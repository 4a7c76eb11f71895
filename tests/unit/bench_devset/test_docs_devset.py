"""The docs dev set builder's FAQ parsing and the eval's BM25 baseline (bench/docs_devset.py,
bench/eval_assistant.py): no network, no database."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.docs_devset import SETS, copyright_licence, gold_pages, is_nav_page, parse_faq, resolve_link
from bench.eval_assistant import BM25, collapse, first_gold_rank

SPHINX_FAQ = """<html><head><title>FAQ: Using it</title></head><body>
<div class="document"><div class="section" id="s-faq">
<h1>FAQ: Using it<a class="headerlink" href="#faq" title="Permalink">\u00b6</a></h1>
<p>Intro with a <a href="../topics/intro.html">link before any question</a>.</p>
<div class="section" id="s-q1">
<h2>How do I use <code>image</code> fields?<a class="headerlink" href="#q1">\u00b6</a></h2>
<p>See <a class="reference internal" href="../ref/models/fields.html#django.db.models.ImageField">fields</a>,
<a href="../ref/settings.html#media-root">MEDIA_ROOT</a>, again <a href="../ref/settings.html">settings</a>,
<a href="https://example.com/x.html">elsewhere</a>, <a href="#q2">below</a>, <a href="general.html">the FAQ</a>,
<a href="../index.html">home</a>, <a href="../genindex.html">index</a>, <a href="../ref/missing.html">gone</a>,
<a href="../ref/contrib/admin/">the admin</a>.</p>
</div>
<div class="section" id="s-q2">
<h2>Why is the sky blue?<a class="headerlink" href="#q2">\u00b6</a></h2>
<p>Nothing internal here: <a href="https://en.wikipedia.org/">Wikipedia</a>.</p>
</div>
</div></div>
<div class="sphinxsidebar"><h3>Next topic</h3><p><a href="../ref/next.html">Next</a></p></div>
</body></html>"""

SQLITE_FAQ = """<html><body><ol><li><a href="#q1">How do I create an AUTOINCREMENT field?</a></li></ol>
<a name="q1"></a>
<p><b>(1) How do I create an AUTOINCREMENT
  field?</b></p>
<blockquote><p>A column declared <a href="lang_createtable.html#rowid">INTEGER PRIMARY KEY</a>; see
<a href="c3ref/last_insert_rowid.html">sqlite3_last_insert_rowid()</a>.</p></blockquote></li>
<a name="q2"></a>
<p><b>(2) What datatypes does SQLite support?</b></p>
<blockquote>SQLite uses <a href="datatype3.html">dynamic typing</a>.</blockquote></li>
</ol>
<p align="center"><small><i>Last modified <a href="https://sqlite.org/docsrc">then</a></i></small></p>
</body></html>"""

ASCIIDOC_FAQ = """<?xml version="1.0" encoding="UTF-8"?>
<html><body><div id="content">
<div class="sect1"><h2 id="_configuration">Configuration</h2><div class="sectionbody">
<div class="dlist"><dl>
<dt class="hdlist1">What should I put in <code>user.name</code>?</dt>
<dd><p>See <a href="git-config.html">git-config(1)</a>.</p></dd>
<dt class="hdlist1">What does <code>http.postBuffer</code> do?</dt>
<dd><p>No links.</p></dd>
</dl></div></div></div>
<div class="sect1"><h2 id="_git">GIT</h2><p>Part of the <a href="git.html">git(1)</a> suite</p></div>
</div></body></html>"""

EXISTING = {"ref/models/fields.html", "ref/settings.html", "topics/intro.html", "ref/next.html",
            "ref/contrib/admin/index.html", "faq/general.html", "faq/usage.html", "index.html", "genindex.html",
            "lang_createtable.html", "c3ref/last_insert_rowid.html", "datatype3.html", "git-config.html", "git.html"}


def test_sphinx_questions_are_headings_with_permalinks_stripped_and_gold_are_internal_pages() -> None:
    qs = parse_faq(SPHINX_FAQ, "faq/usage.html", "sphinx")
    assert [q.question for q in qs] == ["How do I use image fields?", "Why is the sky blue?"]
    faq = {"faq/usage.html", "faq/general.html"}
    gold = [gold_pages(q, SETS["django"], faq, EXISTING.__contains__) for q in qs]
    # fragments dropped, de-duplicated, in order; external, same-page, FAQ, index, genindex, missing ignored;
    # a folder link resolves to its index.html (a content page below the root); the sidebar is not an answer
    assert gold == [["ref/models/fields.html", "ref/settings.html", "ref/contrib/admin/index.html"], []]


def test_sqlite_numbered_bold_questions() -> None:
    qs = parse_faq(SQLITE_FAQ, "faq.html", "sqlite")
    assert [q.question for q in qs] == ["How do I create an AUTOINCREMENT field?",
                                        "What datatypes does SQLite support?"]
    gold = [gold_pages(q, SETS["sqlite"], {"faq.html"}, EXISTING.__contains__) for q in qs]
    assert gold == [["lang_createtable.html", "c3ref/last_insert_rowid.html"], ["datatype3.html"]]


def test_asciidoc_definition_list_questions_end_at_the_next_section() -> None:
    qs = parse_faq(ASCIIDOC_FAQ, "gitfaq.html", "asciidoc")
    assert [q.question for q in qs] == ["What should I put in user.name?", "What does http.postBuffer do?"]
    assert qs[0].hrefs == ["git-config.html"]
    assert qs[1].hrefs == []  # the closing "GIT" section's link is not part of the last answer


@pytest.mark.parametrize(("href", "page", "want"), [
    ("../ref/settings.html#x", "faq/usage.html", "ref/settings.html"),
    ("#x", "faq/usage.html", "faq/usage.html"),
    ("https://example.com/a.html", "faq/usage.html", None),
    ("//example.com/a.html", "faq/usage.html", None),
    ("mailto:a@b.c", "faq/usage.html", None),
    ("../../outside.html", "faq/usage.html", None),
    ("c3ref/step.html", "faq.html", "c3ref/step.html"),
    ("../ref/contrib/admin/", "faq/usage.html", "ref/contrib/admin/index.html"),
])
def test_resolve_link(href: str, page: str, want: str | None) -> None:
    assert resolve_link(href, page) == want


def test_navigation_pages() -> None:
    spec = SETS["django"]
    assert is_nav_page("index.html", spec) and is_nav_page("genindex.html", spec)
    assert is_nav_page("_modules/django/db.html", spec)
    assert not is_nav_page("ref/contrib/admin/index.html", spec)


def test_bm25_idf_and_length_normalisation() -> None:
    docs = [(1, "cache backend memcached"), (2, "cache cache"), (3, "templates and views"),
            (4, "cache " + "filler " * 20)]
    bm = BM25(docs, tokenize=str.split)
    n, df = 4, 3
    assert bm.idf("cache") == pytest.approx(math.log(1 + (n - df + 0.5) / (df + 0.5)))
    assert bm.idf("memcached") > bm.idf("cache")
    # doc 1: tf 1, length 3; average length (3 + 2 + 3 + 21) / 4
    avgdl = 29 / 4
    want = bm.idf("memcached") * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / avgdl))
    assert bm.scores("memcached")[1] == pytest.approx(want)
    # same tf of "cache": the shorter document ranks first; repeats raise the score; no match, no rank
    ranked = bm.search("cache", 10)
    assert ranked.index(1) < ranked.index(4) and ranked[0] == 2
    assert 3 not in ranked
    assert bm.search("cache cache memcached", 1) == [1]  # a query's distinct terms


def test_bm25_default_terms_are_the_products() -> None:
    bm = BM25([(7, "Indexes are rebuilt"), (8, "Something else")])
    assert bm.search("index rebuilding", 5) == [7]


def test_collapse_to_documents_and_first_gold_rank() -> None:
    to_doc = {1: "a", 2: "a", 3: "b", 4: None, 5: "c"}.get
    docs = collapse([1, 2, 4, 3, 5], to_doc, n=2)
    assert docs == ["a", "b"]
    assert first_gold_rank(["a", "b", "c"], frozenset({"c", "z"})) == 3
    assert first_gold_rank(["a"], frozenset({"z"})) is None


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: celery

Files: *
Copyright: 2009-2014, Ask Solem and contributors.
License: BSD-2-clause

Files: docs/*
Copyright: 2009-2014, Ask Solem and contributors.
License: CC-BY-SA-4

License: BSD-2-clause
 Redistribution and use ...
"""


def test_copyright_licence_takes_the_stanza_covering_the_documentation(tmp_path: Path) -> None:
    d = tmp_path / "usr/share/doc/python-celery-doc"
    d.mkdir(parents=True)
    (d / "copyright").write_text(COPYRIGHT)
    assert copyright_licence(tmp_path, "python-celery-doc") == ("BSD-2-clause",
                                                                "/usr/share/doc/python-celery-doc/copyright")
    assert copyright_licence(tmp_path, "python-celery-doc", "docs/*")[0] == "CC-BY-SA-4"
    assert SETS["celery"].copyright_files == "docs/*" and SETS["sqlalchemy"].copyright_files == "*"
    with pytest.raises(SystemExit):
        copyright_licence(tmp_path, "python-celery-doc", "doc/*")
