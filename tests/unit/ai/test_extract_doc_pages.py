"""Documentation-like HTML: main content only, no permalink marks, titles without the site suffix,
code blocks whole, tables and definition lists readable.

tests/fixtures/docs/snippets/ holds small pages written for these tests in the markup the common
generators emit (Sphinx's basic layout as the Python documentation's theme uses it,
sphinx_rtd_theme, Furo, the PyData theme, MkDocs Material, asciidoc, a hand-written site);
tests/fixtures/docs/generators/ holds three real pages (see tests/fixtures/docs/LICENSE.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcourse.ai.chunking import chunk_document
from smartcourse.ai.extract import ExtractedDocument, extract

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "docs"
GENERATORS = DOCS / "generators"


def snippet(name: str) -> str:
    return (DOCS / "snippets" / name).read_text(encoding="utf-8")


PERMALINK_MARKS = ("¶", "🔗")


def html_doc(html: str, name: str = "page.html") -> ExtractedDocument:
    return extract(html.encode(), name, "text/html")


def everything(doc: ExtractedDocument) -> str:
    """All section texts and heading paths."""
    headings = "\n".join(h for s in doc.sections for h in s.location.get("heading_path", []))
    return f"{doc.text}\n{headings}"


def assert_clean(doc: ExtractedDocument, *boilerplate: str) -> None:
    text = everything(doc)
    for mark in PERMALINK_MARKS:
        assert mark not in text
    for words in boilerplate:
        assert words not in text, words


def section_with(doc: ExtractedDocument, needle: str) -> str:
    found = [s.text for s in doc.sections if needle in s.text]
    assert len(found) == 1, (needle, found)
    return found[0]


# --------------------------------------------------------------------------- Sphinx, basic theme

# The Python documentation's theme (pydoctheme, on Sphinx's basic layout): div.related bars above
# and below, div.body[role=main], div.sphinxsidebar, div.footer.
PYDOCTHEME = snippet("sphinx-pydoctheme.html")


def test_sphinx_basic_theme_keeps_the_main_content_only() -> None:
    doc = html_doc(PYDOCTHEME, "datastructures.html")

    assert doc.title == "5. Data Structures"
    assert_clean(
        doc, "Navigation", "Quick search", "Table of Contents", "Previous topic", "Show Source", "Report a Bug",
        "Copyright", "Created using", "Found a bug", "3.12.1 Documentation", "Theme", "[source]", "Python logo",
    )
    paths = {tuple(s.location["heading_path"]) for s in doc.sections}
    assert paths == {
        ("5. Data Structures",),
        ("5. Data Structures", "5.1. More on Lists"),
        ("5. Data Structures", "5.2. The del statement"),
    }


def test_sphinx_api_entries_read_signature_then_description() -> None:
    doc = html_doc(PYDOCTHEME)

    assert section_with(doc, "list.append") == (
        "The list data type has some more methods:\nlist.append(x)\nAdd an item to the end of the list."
    )  # a lead-in ending in ":" starts what it introduces
    assert section_with(doc, "list.insert") == "list.insert(i, x)\nInsert an item at a given position."
    assert "The first argument is the index of the element before which to insert." in doc.text  # dd kept whole


def test_sphinx_code_block_is_one_section_with_its_line_breaks() -> None:
    doc = html_doc(PYDOCTHEME)

    code = section_with(doc, "fruits.count")
    assert code == (
        ">>> fruits = ['orange', 'apple']\n"
        ">>> fruits.count('apple')\n"
        "1\n"
        ">>> for f in fruits:\n"
        "...     print(f)"
    )


def test_sphinx_tables_admonitions_and_footnotes_read_naturally() -> None:
    doc = html_doc(PYDOCTHEME)

    table = section_with(doc, "Operation")
    assert table.split("\n") == [
        "Operation | Result",
        "del a[0] | removes the first item; the list shrinks by one",
        "del a[:] | empties the list",
    ]
    assert section_with(doc, "only modify") == "Note\nMethods like insert only modify the list."
    assert section_with(doc, "mutated") == "Footnotes\n[1]\nOther languages may return the mutated object."


def test_sphinx_page_chunks_carry_title_and_heading_path_only() -> None:
    chunks = chunk_document(html_doc(PYDOCTHEME))

    contexts = [c.context for c in chunks]
    assert contexts[0] == "5. Data Structures"
    assert "5. Data Structures > 5.1. More on Lists" in contexts
    for chunk in chunks:
        assert "documentation" not in chunk.context
        assert "¶" not in chunk.text
    code = next(c for c in chunks if "fruits.count" in c.text)
    assert ">>> for f in fruits:\n...     print(f)" in code.text


# --------------------------------------------------------------------------- other Sphinx themes

RTD = snippet("sphinx-rtd-theme.html")
FURO = snippet("sphinx-furo.html")
PYDATA = snippet("sphinx-pydata-theme.html")
MKDOCS_MATERIAL = snippet("mkdocs-material.html")

@pytest.mark.parametrize(
    ("html", "title", "boilerplate"),
    [
        (RTD, "Installation", ("Search docs", "Contents", "View page source", "Previous", "Next", "Copyright",
                               "Built with", "Read the Docs v: latest", "Acme 2.1")),
        (FURO, "Configuration", ("Hide navigation", "Skip to content", "Back to top", "View this page",
                                 "Edit this page", "Guide", "Usage", "On this page", "Copyright", "Made with",
                                 "Widgets 0.9 documentation")),
        (PYDATA, "Plotting", ("Skip to main content", "Back to top", "Search the docs", "User Guide",
                              "Section Navigation", "On this page", "Edit on GitHub", "Show Source",
                              "Input and output", "Copyright", "Created using", "DataKit 1.4")),
        (MKDOCS_MATERIAL, "Getting started", ("Skip to content", "Forge docs", "Home", "Edit", "Previous",
                                              "Made with")),
    ],
    ids=["sphinx_rtd_theme", "furo", "pydata", "mkdocs-material"],
)
def test_documentation_themes_keep_the_main_content_only(html: str, title: str, boilerplate: tuple[str, ...]) -> None:
    doc = html_doc(html)

    assert doc.title == title
    assert_clean(doc, *boilerplate)
    assert doc.sections[0].location["heading_path"] == [title]
    assert "#" not in everything(doc).replace("[", "")


def test_rtd_page_text_and_code() -> None:
    doc = html_doc(RTD)

    assert [s.text for s in doc.sections] == [
        "Install the package with pip:",
        "$ pip install acme",
        "Clone the repository and run the build script.",
    ]
    assert doc.sections[-1].location["heading_path"] == ["Installation", "From source"]


def test_line_numbers_of_a_highlighted_table_are_dropped() -> None:
    doc = html_doc(FURO)

    assert [s.text for s in doc.sections] == [
        "Widgets reads its settings from widgets.toml.",
        '[widgets]\ncolor = "blue"',
    ]


def test_mkdocs_code_block_keeps_its_lines() -> None:
    doc = html_doc(MKDOCS_MATERIAL)

    assert section_with(doc, "pip install") == "pip install forge\nforge new mysite"
    assert doc.sections[-1].location["heading_path"] == ["Getting started", "Install"]


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(
    ("title", "h1", "expected"),
    [
        ("Models | Django documentation | Django", "Models", "Models"),
        ("Models | Django documentation | Django", None, "Models"),
        ("Page — Project X 3.2 documentation", None, "Page"),
        ("Page \u2013 Project X manual", None, "Page"),
        ("Page - Project X Reference", None, "Page"),
        ("Page :: docs.example.org", None, "Page"),
        ("json — JSON encoder and decoder — Python 3.12.1 documentation", "json — JSON encoder and decoder",
         "json — JSON encoder and decoder"),
        ("json — JSON encoder and decoder — Python 3.12.1 documentation", None, "json — JSON encoder and decoder"),
        ("Acme docs | Getting started", "Getting started", "Getting started"),
        ("Lecture 3 - Joins", None, "Lecture 3 - Joins"),  # no site name: kept whole
        ("Documentation", None, "Documentation"),  # never empty
        ("", "Only a heading", "Only a heading"),
    ],
)
def test_title_loses_the_site_suffix(title: str, h1: str | None, expected: str) -> None:
    body = f"<h1>{h1}<a class='headerlink' href='#x'>¶</a></h1>" if h1 else "<h2>Section</h2>"
    doc = html_doc(f"<html><head><title>{title}</title></head><body>{body}<p>Some text.</p></body></html>")
    assert doc.title == expected


def test_site_banner_heading_before_the_page_heading_is_not_a_heading() -> None:
    # Django's theme: the site's name as an h1 in the page header, then the page's own h1.
    html = """<html><head><title>FAQ: General &#8212; Django 3.2.25 documentation</title></head><body>
    <div id="hd"><h1><a href="../index.html">Django 3.2.25 documentation</a></h1>
      <div id="global-nav"><a href="../index.html">Home</a> | <a href="../contents.html">Table of contents</a> |
        <a href="../genindex.html">Index</a></div>
      <div class="nav">&laquo; <a href="index.html">previous</a> | <a href="index.html">up</a> |
        <a href="install.html">next</a> &raquo;</div></div>
    <div id="bd"><div class="yui-g" id="faq-general"><div class="section" id="s-faq-general">
      <h1>FAQ: General<a class="headerlink" href="#faq-general" title="Permalink to this headline">¶</a></h1>
      <div class="section" id="s-search"><h2>Search<a class="headerlink" href="#search">¶</a></h2>
      <p>Use the search box.</p></div></div></div>
      <div class="yui-b" id="sidebar"><div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3></div>
        <h3>Last update:</h3><p class="topless">Nov 11, 2026</p></div></div>
    <div id="ft"><div class="nav">&laquo; <a href="index.html">previous</a></div></div>
    </body></html>"""
    doc = html_doc(html)

    assert doc.title == "FAQ: General"
    assert [(s.text, s.location["heading_path"]) for s in doc.sections] == [
        ("Use the search box.", ["FAQ: General", "Search"])  # a section id "s-search" is not chrome
    ]


# --------------------------------------------------------------------------- permalinks


def test_permalink_anchors_of_any_generator_are_dropped() -> None:
    html = """<html><head><title>Marks</title></head><body><main>
    <h1>Marks<a href="#marks">¶</a></h1>
    <h2 id="a">Alpha <a class="anchor" href="#a">#</a></h2><p>Alpha text.</p>
    <h2 id="b">Beta<a href="#b" aria-label="Permalink">🔗</a></h2><p>Beta text.</p>
    <h2 id="c">Gamma <a href="#c" title="Permalink to this headline">link</a></h2><p>Gamma text.</p>
    <h2 id="d">Delta <a class="hash-link" href="#d">&#8203;#</a></h2><p>Delta text, see <a href="#a">#</a>.</p>
    <h2>C# and §7 ¶</h2><p>Pilcrows after a heading's text go too.</p>
    </main></body></html>"""
    doc = html_doc(html)

    assert [s.location["heading_path"][-1] for s in doc.sections] == ["Alpha", "Beta", "Gamma", "Delta", "C# and §7"]
    assert_clean(doc)


# --------------------------------------------------------------------------- other generators


ASCIIDOC = snippet("asciidoc-manpage.html")


def test_asciidoc_manpage_keeps_its_header_section_and_drops_toc_and_footer() -> None:
    doc = html_doc(ASCIIDOC)

    assert doc.title == "git-mv(1)"
    assert_clean(doc, "Table of Contents", "Last updated")
    assert [(s.location["heading_path"], s.text) for s in doc.sections] == [
        (["git-mv(1) Manual Page", "NAME"], "git-mv - Move or rename a file"),
        (["git-mv(1) Manual Page", "SYNOPSIS"], "git mv [<options>] <source>… <destination>"),
        (["git-mv(1) Manual Page", "OPTIONS"],
         "-f\n--force\nForce renaming or moving of a file even if the <destination> exists."),
        (["git-mv(1) Manual Page", "OPTIONS"], "-n\nDo nothing; only show what would happen"),
        (["git-mv(1) Manual Page", "OPTIONS"], "Note\nSubmodules are moved too."),
    ]
    # The <title> is a prefix of the first heading: the context does not say it twice.
    assert chunk_document(doc)[0].context == "git-mv(1) Manual Page > NAME"


HAND_WRITTEN = snippet("hand-written.html")


def test_hand_written_site_drops_menus_tagline_toc_and_modified_line() -> None:
    doc = html_doc(HAND_WRITTEN)

    assert doc.title == "VACUUM"
    assert [(s.location["heading_path"], s.text) for s in doc.sections] == [
        (["2. Description"], "The VACUUM command rebuilds the database file."),
        (["2. Description"], "Mode | Effect\nFULL | reclaims all free pages"),
    ]


def test_content_is_never_taken_for_chrome() -> None:
    # Words that name chrome in class names are content in text, ids of sections and headings.
    html = """<html><head><title>Menus</title></head><body><main>
    <h1 id="menu">Menus</h1>
    <section id="navigation"><h2 id="footer">Navigation and footers</h2>
    <p>Menus, sidebars and footers are layout elements.</p>
    <blockquote><p>Design is how it works.</p><footer>Steve Jobs</footer></blockquote>
    <aside class="sidebar"><p class="sidebar-title">Aside</p><p>A docutils sidebar is content.</p></aside>
    <span class="menuselection">File ‣ Open</span>
    <p>Last modified time is stored in the inode.</p></section>
    </main></body></html>"""
    doc = html_doc(html)

    text = doc.text
    for kept in ("layout elements", "Design is how it works.", "Steve Jobs", "Aside", "A docutils sidebar is content.",
                 "File ‣ Open", "Last modified time is stored in the inode."):
        assert kept in text
    assert doc.sections[0].location["heading_path"] == ["Menus", "Navigation and footers"]


def test_role_main_is_the_root_and_everything_around_it_is_dropped() -> None:
    html = """<html><head><title>T</title></head><body>
    <div class="wrapper"><p>Promo text around the content.</p>
    <div class="content" role="main"><h1>T</h1><p>The content.</p></div>
    <p>More promo.</p></div></body></html>"""
    doc = html_doc(html)

    assert [s.text for s in doc.sections] == ["The content."]


# --------------------------------------------------------------------------- real pages


def real(name: str) -> ExtractedDocument:
    return extract((GENERATORS / name).read_bytes(), name, "text/html")


def test_real_django_page() -> None:
    doc = real("django-faq-general.html")

    assert doc.title == "FAQ: General"
    assert_clean(doc, "Django 3.2.25 documentation", "Table of contents", "previous", "Quick search",
                 "Last update", "Nov 11, 2026", "Previous topic", "Next topic")
    first = doc.sections[0]
    assert first.location["heading_path"] == ["FAQ: General", "Why does this project exist?"]
    assert first.text.startswith("Django grew from a very practical need")
    citation = section_with(doc, "[Computer Software]")  # a code block
    assert citation == "Django (Version 1.5) [Computer Software]. (2013). Retrieved from https://www.djangoproject.com/."
    for chunk in chunk_document(doc):
        assert chunk.context.startswith("FAQ: General > ")
        assert "3.2.25" not in chunk.text


def test_real_asciidoc_page() -> None:
    doc = real("git-mv.html")

    assert doc.title == "git-mv(1)"
    assert_clean(doc, "Last updated")
    assert doc.sections[0].text == "git-mv - Move or rename a file, a directory, or a symlink"
    assert "-f\n--force\nForce renaming or moving of a file even if the <destination> exists." in doc.text


def test_real_hand_written_page() -> None:
    doc = real("sqlite-lang_vacuum.html")

    assert doc.title == "VACUUM"
    assert_clean(doc, "Small. Fast. Reliable.", "Download", "Table Of Contents", "last modified", "Search")
    assert doc.sections[0].location["heading_path"] == ["2. Description"]
    assert doc.sections[0].text.startswith("The VACUUM command rebuilds the database file")


# --------------------------------------------------------------------------- fallbacks, hostile markup


def test_a_page_of_links_only_keeps_its_links() -> None:
    html = """<html><head><title>Contents | Acme docs</title></head><body>
    <div class="related" role="navigation"><a href="index.html">Home</a></div>
    <div class="body" role="main"><h1>Contents</h1><div class="toctree-wrapper compound"><ul>
    <li><a href="intro.html">Introduction</a></li><li><a href="install.html">Installation</a></li>
    <li><a href="usage.html">Usage</a></li></ul></div></div></body></html>"""
    doc = html_doc(html)

    assert doc.title == "Contents"
    assert [s.text for s in doc.sections] == ["Introduction", "Installation", "Usage"]


def test_a_page_that_looks_like_chrome_all_over_is_read_whole() -> None:
    html = """<html><head><title>Notes</title></head><body><div class="nav-wrapper">
    <p>Everything on this page sits in a wrapper named like navigation.</p></div></body></html>"""
    doc = html_doc(html)

    assert doc.text == "Everything on this page sits in a wrapper named like navigation."


@pytest.mark.parametrize(
    ("opening", "closing"),
    [
        ('<div class="menu">', "</div>"),
        ("<footer>", "</footer>"),
        ('<div role="main">', "</div>"),
        ('<div class="body">', "</div>"),
        ("<table><tr><td>", "</td></tr></table>"),
        ("<blockquote><footer>", "</footer></blockquote>"),
        ('<aside class="note">', "</aside>"),
    ],
    ids=["menus", "footers", "role-main", "sphinx-body", "tables", "quoted-footers", "asides"],
)
def test_deeply_nested_chrome_is_read_in_linear_time(opening: str, closing: str) -> None:
    # Every check that looks up or down the tree (holds an h1? inside a quote? innermost main?
    # a table's own rows) is done in one pass: 3,000 levels stay fast (quadratic would be ~10^7 steps).
    depth = 3000
    html = f"<html><head><title>Deep</title></head><body>{opening * depth}deep text{closing * depth}</body></html>"
    doc = html_doc(html)
    assert doc.text == "deep text"
