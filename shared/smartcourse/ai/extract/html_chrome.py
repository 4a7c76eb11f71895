"""HTML: the page's main content, and the site chrome inside it that is dropped.

Steps 1 to 3 of the rules in `smartcourse.ai.extract.html`: the main root (`_main_root`), chrome
by tag, role, class and id (`_chrome_strength`), link menus (`_is_link_menu`). Linear in the size
of the page however deep the markup (`_marked_ancestors`, `_outermost`, `_text_sizes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

_DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "head",
        "button",
        "select",
        "datalist",
        "input",
    }
)


_CHROME_ROLES = frozenset({"navigation", "banner", "search", "contentinfo", "doc-toc", "menu", "menubar"})
# Class names that are chrome wherever they appear (exact match, lower case).
_CHROME_CLASSES = frozenset(
    {
        # generic, DocBook
        "navheader",
        "navfooter",
        "navbar",
        "breadcrumb",
        "breadcrumbs",
        "toc",
        "skip-link",
        "sr-only",
        "visually-hidden",
        "visuallyhidden",
        "screen-reader-text",
        # Sphinx basic / classic / alabaster / nature / pydoctheme
        "sphinxsidebar",
        "sphinxsidebarwrapper",
        "related",
        "headerlink",
        "footer",
        "searchbox",
        "sourcelink",
        "this-page-menu",
        "viewcode-link",
        "viewcode-back",
        "mobile-nav",
        "version_switcher_placeholder",
        "inline-search",
        # sphinx_rtd_theme
        "wy-nav-side",
        "wy-nav-top",
        "wy-breadcrumbs",
        "wy-breadcrumbs-aside",
        "rst-footer-buttons",
        "rst-versions",
        "rst-breadcrumbs-buttons",
        # furo
        "sidebar-drawer",
        "toc-drawer",
        "content-icon-container",
        "edit-this-page",
        "view-this-page",
        "related-pages",
        "bottom-of-page",
        "mobile-header",
        "back-to-top",
        # pydata-sphinx-theme, sphinx-book-theme
        "bd-header",
        "bd-sidebar-primary",
        "bd-sidebar-secondary",
        "bd-header-article",
        "prev-next-area",
        "prev-next-footer",
        "bd-footer",
        "bd-footer-article",
        "bd-footer-content",
        "editthispage",
        "version-switcher__container",
        # MkDocs Material
        "md-header",
        "md-sidebar",
        "md-footer",
        "md-tabs",
        "md-source-file",
        # line-number gutters of highlighted code (Pygments, highlight.js)
        "linenos",
        "linenodiv",
        "lineno",
    }
)
# Words of class names and ids (split at "-" and "_") that name chrome. Weaker evidence than the
# classes above: an element holding an h1 is never dropped for them (it wraps the content).
_CHROME_WORDS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "menu",
        "mainmenu",
        "submenu",
        "menubar",
        "breadcrumb",
        "breadcrumbs",
        "sidebar",
        "footer",
        "toc",
        "search",
        "searchbox",
        "searchmenu",
        "tagline",
        "skiplink",
        "pager",
        "pagination",
        "prevnext",
        "prev",
        "next",
        "logo",
        "banner",
        "announcement",
        "cookie",
        "switcher",
        "edit",
        "related",
    }
)
# Class tokens that contain a chrome word but are content (docutils' sidebar directive).
_CONTENT_CLASS_TOKENS = frozenset({"sidebar-title", "sidebar-subtitle"})
# ``<aside>`` is chrome except what docutils renders as <aside> in the content.
_CONTENT_ASIDE_CLASSES = frozenset(
    {"footnote", "footnote-list", "citation", "citation-list", "topic", "sidebar", "admonition", "note",
     "warning", "tip", "seealso", "pull-quote", "epigraph", "highlights", "margin"}
)
# Elements whose id may name chrome (ids of sections and headings come from heading text).
_ID_CHROME_TAGS = frozenset({"div", "aside", "ul", "ol", "header", "footer", "p", "table", "form"})
_SECTION_CLASS = re.compile(r"^(?:sect|section|chapter|topic|admonition|refsect|simplesect)", re.IGNORECASE)
_WORD_SEP = re.compile(r"[-_]+")
# An anchor whose whole text is one of these is a permalink mark ("¶" after Sphinx headings).
_PERMALINK_MARKS = frozenset({"¶", "#", "§", "🔗", "⚓", "∞", "⚓\ufe0f", "🔗\ufe0f"})
_PERMALINK_TITLE = re.compile(r"^\s*(?:permalink|permanent link|link to this|direct link)", re.IGNORECASE)
# Links that act on the page rather than say something: "Edit this page", "Show Source", ...
_ACTION_LINK = re.compile(
    r"^(?:(?:edit|view|show|suggest edits? (?:to|on))(?: this| the)? (?:page|source|file)(?: source)?"
    r"(?: on \w+)?|(?:edit|view) (?:on|in) (?:github|gitlab|bitbucket)|improve this page)$",
    re.IGNORECASE,
)


def _class_words(value: str) -> frozenset[str]:
    return frozenset(_WORD_SEP.split(value.lower()))


@lru_cache(maxsize=8192)
def _class_verdict(classes: tuple[str, ...]) -> int:
    """What a class attribute says: 2 chrome, 1 chrome by its words, 3 the same but "sidebar" (a
    docutils sidebar directive is content), 0 nothing."""
    lowered = frozenset(c.lower() for c in classes)
    if not _CHROME_CLASSES.isdisjoint(lowered):
        return 2
    if "contents" in lowered and ("topic" in lowered or "local" in lowered):  # docutils' local TOC
        return 2
    for cls in lowered:
        if cls not in _CONTENT_CLASS_TOKENS and not _CHROME_WORDS.isdisjoint(_class_words(cls)):
            return 3 if "sidebar" in lowered else 1
    return 0


@lru_cache(maxsize=8192)
def _id_verdict(ident: str) -> bool:
    return not _CHROME_WORDS.isdisjoint(_class_words(ident))


def _chrome_strength(tag: Any, quoted: set[int]) -> int:
    """2: chrome for sure; 1: chrome by its class/id words (kept if it holds an h1); 0: content.
    ``quoted``: ids of the tags inside a blockquote or figure."""
    name = tag.name
    if name in _DROP_TAGS:
        return 2
    attrs = tag.attrs
    if name == "footer":  # <blockquote><footer>— Author</footer></blockquote> is content
        return 0 if id(tag) in quoted else 2
    if name == "aside" and _CONTENT_ASIDE_CLASSES.isdisjoint(c.lower() for c in attrs.get("class") or ()):
        return 2
    if name == "a" and _is_permalink(tag):
        return 2
    if not attrs:
        return 0
    if "hidden" in attrs or attrs.get("aria-hidden") == "true" or attrs.get("role") in _CHROME_ROLES:
        return 2
    classes = attrs.get("class")
    verdict = _class_verdict(tuple(classes)) if classes else 0
    if verdict == 3:
        verdict = 0 if tag.find(class_="sidebar-title") is not None else 1
    if verdict:
        return verdict
    ident = attrs.get("id")
    if (
        isinstance(ident, str)
        and name in _ID_CHROME_TAGS
        and _id_verdict(ident)
        and not any(_SECTION_CLASS.match(c) for c in classes or ())
    ):
        return 1
    return 0


def _is_permalink(tag: Any) -> bool:
    """A permalink mark ("¶" after a heading) or a link acting on the page ("Edit this page")."""
    title = tag.attrs.get("title")
    if isinstance(title, str) and (_PERMALINK_TITLE.match(title) or _ACTION_LINK.match(title.strip())):
        return True
    text = tag.get_text().replace("\u200b", "").strip()
    return text in _PERMALINK_MARKS or (len(text) < 40 and bool(_ACTION_LINK.match(" ".join(text.split()))))


def _gone(tag: Any) -> bool:
    """Decomposed already (as part of an ancestor). Not ``tag.decomposed``: on a decomposed tag
    bs4's attribute lookup falls back to ``find()``, a search of the subtree, for every check."""
    return bool(tag.__dict__.get("_decomposed"))


def _text_sizes(tops: Iterable[Any]) -> dict[int, list[int]]:
    """id(tag) -> [characters, strings, characters inside links, links] of the text of the tags in
    ``tops``' subtrees, in one bottom-up pass each (per-tag ``get_text`` is quadratic on nested
    markup). Characters count as ``_inline(tag.get_text(" "))`` does: each string's words, one
    space between strings."""
    from bs4 import NavigableString, Tag

    sizes: dict[int, list[int]] = {}
    for top in tops:
        for node in reversed([top, *top.descendants]):
            kind = type(node)
            if kind is NavigableString:  # not its subclasses: comments, doctypes, CDATA, ...
                n = len(" ".join(node.split()))
                if n:
                    acc = sizes.setdefault(id(node.parent), [0, 0, 0, 0])
                    acc[0] += n
                    acc[1] += 1
                continue
            if kind is not Tag and not isinstance(node, Tag):
                continue
            own = sizes.get(id(node))
            if node.name == "a":
                own = own or [0, 0, 0, 0]
                own[2] = own[0] + max(own[1] - 1, 0)
                own[3] += 1
                sizes[id(node)] = own
            if own and node is not top:
                acc = sizes.setdefault(id(node.parent), [0, 0, 0, 0])
                for i in range(4):
                    acc[i] += own[i]
    return sizes


def _is_link_menu(tag: Any, sizes: dict[int, list[int]]) -> bool:
    """A list/table/block that is nothing but several links (a menu, a link farm)."""
    chars, strings, linked, links = sizes.get(id(tag)) or (0, 0, 0, 0)
    text = chars + max(strings - 1, 0)
    return links >= 3 and text > 0 and linked / text >= 0.9


def _marked_ancestors(nodes: Iterable[Any], stop: Any) -> set[int]:
    """ids of the proper ancestors of ``nodes`` (up to ``stop``, excluded). Linear: a walk up ends
    at an ancestor already marked."""
    marked: set[int] = set()
    for node in nodes:
        parent = node.parent
        while parent is not None and parent is not stop and id(parent) not in marked:
            marked.add(id(parent))
            parent = parent.parent
    return marked


def _main_root(soup: Any, tags: Sequence[Any]) -> Any:
    """The element holding the page's main content (rule 1 in `smartcourse.ai.extract.html`), else
    the body. ``tags``: every tag of ``soup`` in document order."""
    by_role: list[Any] = []
    mains: list[Any] = []
    bodies: list[Any] = []
    articles: list[Any] = []
    for tag in tags:
        name = tag.name
        if name not in ("main", "div", "article"):
            continue
        if tag.attrs.get("role") == "main":
            by_role.append(tag)
        elif name == "main":
            mains.append(tag)
        elif name == "div" and "body" in (tag.attrs.get("class") or ()):
            bodies.append(tag)
        elif name == "article":
            articles.append(tag)
    for candidates in (by_role, mains, bodies, articles if len(articles) == 1 else []):
        if not candidates:
            continue
        inner = candidates
        if len(candidates) > 1:  # the innermost: drop a candidate that contains another one
            outer = _marked_ancestors(candidates, None)
            inner = [c for c in candidates if id(c) not in outer]
        if len(inner) == 1 and inner[0].get_text().strip():
            return inner[0]
        if len(inner) > 1:
            break  # several disjoint main regions: keep them all
    return soup.body or soup


def _drop_chrome(soup: Any, *, drop_menus: bool) -> tuple[Any, dict[int, list[int]]]:
    """The main content's root, with its chrome (and link menus) decomposed; and text sizes."""
    # Passes over a list of the tags in Python (CSS selectors via soupsieve, and find_all with
    # several names, are 5-10x slower on large pages); nothing here is quadratic on deep markup.
    tags = soup.find_all(True)
    root: Any = _main_root(soup, tags)
    if root is not soup and root is not soup.body:
        tags = root.find_all(True)
    holds_h1 = _marked_ancestors((t for t in tags if t.name == "h1"), root)
    quoted: set[int] = set()
    for tag in tags:  # document order: a parent before its children
        parent = tag.parent
        if parent is not None and (id(parent) in quoted or parent.name in ("blockquote", "figure")):
            quoted.add(id(tag))
    doomed = []
    for tag in tags:
        strength = _chrome_strength(tag, quoted)
        if strength == 2 or (strength == 1 and tag.name != "h1" and id(tag) not in holds_h1):
            doomed.append(tag)
    for tag in doomed:
        if not _gone(tag):
            tag.decompose()
    # Text sizes of the menu-like blocks (lists, tables, toctrees), each counted once.
    menus = [tag for tag in tags if not _gone(tag) and _menu_like(tag)]
    sizes = _text_sizes(_outermost(menus))
    for tag in menus if drop_menus else ():
        if not _gone(tag) and _is_link_menu(tag, sizes):
            tag.decompose()
    return root, sizes


def _menu_like(tag: Any) -> bool:
    name = tag.name
    return name in ("ul", "ol", "table") or (name == "div" and "toctree-wrapper" in (tag.attrs.get("class") or ()))


def _outermost(tags: Sequence[Any]) -> list[Any]:
    """The tags (given in document order) that are not inside another of them. Linear: each
    ancestor is looked at once."""
    ids = {id(t) for t in tags}
    under: dict[int, bool] = {}  # id(node) -> the node is, or is inside, one of the tags
    outer: list[Any] = []
    for tag in tags:
        path: list[Any] = []
        node = tag.parent
        while node is not None and id(node) not in under:
            path.append(node)
            node = node.parent
        flag = node is not None and under[id(node)]
        for ancestor in reversed(path):
            flag = flag or id(ancestor) in ids
            under[id(ancestor)] = flag
        if not flag:
            outer.append(tag)
        under[id(tag)] = True
    return outer
