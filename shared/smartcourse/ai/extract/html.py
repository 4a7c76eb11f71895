"""HTML: the page's own text, under the heading path (``{"heading_path": [...]}``).

Documentation pages wrap their text in site chrome: navigation bars, sidebars holding the
site's table of contents, breadcrumbs, prev/next links, footers, search boxes, version
switchers, permalink marks after every heading. Only the main content is kept:

1. The root is the page's main element when it names one (the innermost ``[role=main]``,
   else ``<main>``, else Sphinx's ``div.body``, else a single ``<article>``), else ``<body>``.
2. Chrome inside the root is dropped in one pass (`html_chrome._chrome_strength`): tags (script, nav,
   footer, aside, ...), ARIA roles, class names of well-known generators (Sphinx themes, DocBook,
   MkDocs), permalink anchors and links acting on the page ("Edit this page"); then, more
   cautiously, elements whose class or id words name chrome ("menu", "sidebar", "toc",
   "footer", ...) unless they hold an h1.
3. Lists, tables and toctrees that are nothing but links (menus) are dropped, and "This page
   last modified on <date>" lines.
4. The title is the ``<title>`` without the site's suffix (`_html_title`); headings repeating
   the site's name (a banner before the page's own heading) are not part of any heading path.
5. The walk: headings make the heading path; ``<pre>`` is one section with its line breaks
   (line-number gutters dropped); a table is one section, a row per line, cells joined by " | "
   (a table with one non-empty cell, or one row, is layout: its cells are walked); a definition
   term (``dt``), an admonition title or a short lead-in ending in ":" starts the next section
   instead of standing alone.
6. A page left without text is read again keeping its link menus, then without any chrome
   removal (a site's table of contents; a page wrapped in a "nav-wrapper").
Steps 1 to 3 are `smartcourse.ai.extract.html_chrome`'s; 4 to 6 this module's. Every step is linear
in the size of the page, however deep the markup (`_marked_ancestors`, `_outermost`, `_text_sizes`):
bs4's find()/get_text() per tag would be quadratic.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from smartcourse.ai.extract.common import _inline, _table_text
from smartcourse.ai.extract.errors import CorruptDocument
from smartcourse.ai.extract.html_chrome import _DROP_TAGS, _drop_chrome, _gone, _outermost, _text_sizes
from smartcourse.ai.extract.model import Section

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "menu",
        "ol",
        "p",
        "section",
        "summary",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "legend",
        "html",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
    }
)
_TRAILING_MARKS = re.compile(r"[\s\u200b]*[¶🔗⚓]+[\s\u200b\ufe0f]*$")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Blocks that label what follows them (definition terms, admonition and code-block titles).
_LABEL_CLASSES = frozenset({"admonition-title", "rubric", "title", "code-block-caption", "caption"})
_LEAD_IN_MAX = 120
# A footnote's or citation's mark ("[1]", "[Knuth84]") before its text.
_NOTE_MARK = re.compile(r"^\[[^\]\s]{1,12}\]$")
_LABEL_MAX = 400
# "This page last modified on 2022-12-14 11:53:20 UTC", "Last updated: Dec 20, 2023": a date follows.
_LAST_MODIFIED = re.compile(
    r"^(?:this page (?:was )?)?last (?:updated|modified|changed)(?:\s+on|\s+at)?:?\s+"
    r"(?:\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun).{0,50}$",
    re.IGNORECASE,
)
# Site-suffix separators in <title>: "Page — Project 3.2 documentation", "Models | Django docs".
_TITLE_SEPARATOR = re.compile("\\s+(?:\\||\u2014|\u2013|-{1,2}|::|\u00b7|\u00bb)\\s+")
_SITE_WORDS = re.compile(
    r"\b(?:documentation|docs?|manual|reference|guide|handbook|wiki|help|api)\b", re.IGNORECASE
)
_VERSION_OR_DOMAIN = re.compile(r"^(?:v?\d+(?:\.\d+)*\S*|[\w-]+(?:\.[\w-]+)+/?)$", re.IGNORECASE)


def _text_of(tag: Any) -> str:
    """The inline text of ``tag``: strings joined as written, a space where a block or <br> starts."""
    from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
                parts.append(str(node))
        elif node.name in _BLOCK_TAGS or node.name == "br":
            parts.append(" ")
    return _TRAILING_MARKS.sub("", _inline("".join(parts)))


def _html_title(raw: str | None, headings: Sequence[str]) -> tuple[str | None, frozenset[str]]:
    """The page's title without the site's suffix, and the (lower-cased) site parts removed.

    "Models | Django documentation | Django" with an h1 "Models" -> "Models". Else trailing
    " | ", " — ", en dash, " - ", " :: " segments naming the site (a word like documentation, docs,
    manual, reference, guide; a version; a domain; or a part of another such segment) are removed,
    and "Site docs | Page" where "Page" is a heading of the page gives "Page". Never empty: the
    first segment always stays.
    """
    title = _inline(raw or "")
    if not title:
        return (headings[0] if headings else None), frozenset()
    lowered = title.lower()
    for heading in headings:
        if lowered.startswith(heading.lower()):
            rest = title[len(heading):]
            if not rest.strip():
                return heading, frozenset()
            m = _TITLE_SEPARATOR.match(rest)
            if m:
                return heading, frozenset(s.lower() for s in _TITLE_SEPARATOR.split(rest[m.end():]) if s)
    parts = _TITLE_SEPARATOR.split(title)  # no capturing group: the segments only
    if len(parts) < 2 or not all(parts):
        return title, frozenset()
    named = [bool(_SITE_WORDS.search(s) or _VERSION_OR_DOMAIN.match(s)) for s in parts]
    site_like = [
        named[i] or any(named[j] and j != i and seg.lower() in parts[j].lower() for j in range(1, len(parts)))
        for i, seg in enumerate(parts)
    ]
    for heading in headings:  # "Project docs | Page"
        for i, seg in enumerate(parts):
            if seg.lower() == heading.lower() and not site_like[i]:
                return seg, frozenset(s.lower() for j, s in enumerate(parts) if j != i)
    keep = len(parts)
    while keep > 1 and site_like[keep - 1]:
        keep -= 1
    if keep == len(parts):
        return title, frozenset()
    # The kept text ends where the segment after the last kept one starts.
    head, cut = title, 0
    for _ in range(keep):
        m = _TITLE_SEPARATOR.search(title, cut)
        assert m is not None
        head, cut = title[: m.start()], m.end()
    return head, frozenset(s.lower() for s in parts[keep:])


def _table_rows(table: Any) -> list[list[Any]]:
    """The cells of ``table``'s own rows (not those of nested tables)."""

    def cells(row: Any) -> list[Any]:
        return [c for c in row.children if getattr(c, "name", None) in ("td", "th")]

    rows = []
    for child in table.children:
        name = getattr(child, "name", None)
        if name == "tr":
            rows.append(cells(child))
        elif name in ("thead", "tbody", "tfoot"):
            rows.extend(cells(row) for row in child.children if getattr(row, "name", None) == "tr")
    return rows


def _parse_html(data: bytes, charset: str | None) -> Any:
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    try:
        with warnings.catch_warnings():
            # XHTML (e.g. DocBook output) is parsed as HTML on purpose: same tree for our use.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            return BeautifulSoup(data, "lxml", from_encoding=charset)
    except Exception as exc:  # any parser failure means unreadable HTML
        raise CorruptDocument("the HTML could not be parsed") from exc


def _extract_html(data: bytes, charset: str | None) -> tuple[list[Section], str | None]:
    sections, title = _html_sections(_parse_html(data, charset), menus=True, chrome=True)
    # A page that is nothing but links (a site's table of contents) keeps its links; one that
    # looked like chrome all over (wrapped in a "nav-wrapper", say) is read whole.
    if not sections:
        sections, title = _html_sections(_parse_html(data, charset), menus=False, chrome=True)
    if not sections:
        sections, title = _html_sections(_parse_html(data, charset), menus=False, chrome=False)
    return sections, title


def _html_sections(soup: Any, *, menus: bool, chrome: bool) -> tuple[list[Section], str | None]:
    """The walk over the page (see the module's rules). ``menus``/``chrome``: drop link menus / the
    chrome; without chrome only scripts, styles and the like go."""
    from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

    title_tag = soup.find("title")
    raw_title = title_tag.get_text() if title_tag is not None else None
    if not chrome:
        root: Any = soup.body or soup
        for tag in root.find_all(True):
            if not _gone(tag) and tag.name in _DROP_TAGS:
                tag.decompose()
        sizes = _text_sizes(_outermost([tag for tag in root.find_all("table") if not _gone(tag)]))
    else:
        root, sizes = _drop_chrome(soup, drop_menus=menus)

    top = [_text_of(h) for h in root.find_all("h1", limit=5)] or [_text_of(h) for h in root.find_all("h2", limit=5)]
    title, site_parts = _html_title(raw_title, [h for h in top if h])

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    label: list[str] = []  # a term/title/lead-in waiting to start the next section
    seen_heading = False
    skip_strings = (Comment, Declaration, Doctype, ProcessingInstruction)

    def heading_path() -> list[str]:
        return [t for _, t in path]

    def emit(text: str) -> None:
        if not path and not label and title and text.lower() == title.lower():
            return  # the page's title shown as text (not a heading) before the first heading
        if label:
            text = "\n".join([*label, text])
            label.clear()
        sections.append(Section(text, {"heading_path": heading_path()}))

    def emit_label(*, followed: bool = False) -> None:
        # Short lead-ins followed by nothing (the labels of dropped diagrams, a lone "Example:")
        # say nothing; a sentence ending in ":" before a heading stays.
        if not label:
            return
        bare = all(t.endswith(":") and len(t) <= 40 for t in label) and (len(label) > 1 or " " not in label[0])
        if followed or not bare:
            sections.append(Section("\n".join(label), {"heading_path": heading_path()}))
        label.clear()

    def flush(as_label: bool = False) -> None:
        text = _inline("".join(buffer))
        buffer.clear()
        if not text or _LAST_MODIFIED.match(text):
            return
        if as_label or (len(text) <= _LEAD_IN_MAX and text.endswith(":")) or _NOTE_MARK.match(text):
            text = _TRAILING_MARKS.sub("", text)
            if sum(len(t) for t in label) + len(text) > _LABEL_MAX:
                emit_label()
            if text:
                label.append(text)
            return
        emit(text)

    # Iterative walk (a stack of child iterators): arbitrarily deep markup cannot overflow.
    # Each entry: (children, flush when leaving, the block labels what follows).
    stack: list[tuple[Iterator[Any], bool, bool]] = [(iter(root.children), False, False)]
    while stack:
        children, flush_on_exit, is_label = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if flush_on_exit:
                flush(is_label)
            continue
        if isinstance(child, NavigableString):
            if not isinstance(child, skip_strings):
                buffer.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _HEADINGS:
            flush()
            heading = _text_of(child)
            if not heading:
                continue
            if not seen_heading and heading.lower() in site_parts:
                continue  # the site's banner ("Project 3.2 documentation") before the page's heading
            seen_heading = True
            emit_label()
            level = _HEADINGS[name]
            path = [(lv, t) for lv, t in path if lv < level] + [(level, heading)]
            if title is None and level == 1:
                title = heading
        elif name == "pre":
            flush()
            text = child.get_text().strip("\n")
            if text.strip():
                # The label stays a section of its own: a block that fits a chunk alone must not
                # grow past it (chunking packs the two together when they fit).
                emit_label(followed=True)
                emit(text.rstrip())
        elif name == "table":
            flush()
            rows = _table_rows(child)
            filled = [cell for row in rows for cell in row if sizes.get(id(cell), (0,))[0]]
            if not rows:  # no rows of its own (malformed markup): read it as a block
                stack.append((iter(child.children), True, False))
                continue
            if len(filled) == 1:  # layout (e.g. a highlighted code block with line numbers)
                stack.append((iter(filled[0].children), True, False))
                continue
            if len(rows) == 1:  # layout too (e.g. asciidoc's admonitions: an icon cell, a text cell)
                stack.append((iter(filled), False, False))
                continue
            text = _table_text([[_text_of(cell) for cell in row] for row in rows])
            caption = next((c for c in child.children if getattr(c, "name", None) == "caption"), None)
            if caption is not None and _text_of(caption):
                label.append(_text_of(caption))
            if text:
                emit(text)
        elif name == "br":
            buffer.append("\n")
        else:
            block = name in _BLOCK_TAGS
            if block:
                flush()
            labels = block and (
                name == "dt" or not _LABEL_CLASSES.isdisjoint(child.attrs.get("class") or ())
            )
            stack.append((iter(child.children), block, labels))
    flush()
    emit_label()
    return sections, title
