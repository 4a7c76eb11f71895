"""Rebuild the documentation dev sets of `make eval` (tests/fixtures/docs_dev/<set>/) from Debian packages.

    python -m bench.docs_devset                 # every set
    python -m bench.docs_devset --set sqlite    # one set

Each set is built the way the held-out evaluation is: the HTML documentation of one project as one
course (every page an uploaded asset), the questions of that project's FAQ, and as gold the pages
the FAQ's answer links to.

1. The package is fetched with `apt-get download <package>=<version>` into .cache/devsets/ (the
   version is pinned below; `--any-version` takes apt's candidate instead) and unpacked with
   `dpkg-deb -x`. Its sha256 and its licence (the `Files: *` stanza of the package's
   debian/copyright, or the set's `copyright_files` stanza when the documentation has its own, as
   Celery's `Files: docs/*`) are recorded.
2. Questions: every question heading of the FAQ page(s), its text with permalink marks ("¶") and
   numbering ("(12) ") stripped. Gold: the internal links inside that question's answer (everything
   up to the next question heading or section heading), resolved to page paths of the package;
   fragments are dropped; links to the FAQ pages themselves, to navigation pages (index, genindex,
   search, contents, ...), to non-HTML files and to outside URLs are ignored. A question without
   gold is dropped.
3. Course pages: every gold page, plus distractor pages of the same package drawn with a fixed seed
   up to the set's total. Distractors are never FAQ or navigation pages, never under _modules,
   _static, _sources, _images, and never larger than the set's distractor cap (visible text); gold
   pages are kept whatever their size. The pages are stored unchanged in pages.tar.xz
   (deterministic: sorted, mtime 0), so `make eval` needs no network.

Output per set: tests/fixtures/docs_dev/<set>/devset.json and pages.tar.xz; plus
tests/fixtures/docs_dev/LICENSE.md for all sets.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import posixpath
import random
import re
import shutil
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests" / "fixtures" / "docs_dev"
CACHE = ROOT / ".cache" / "devsets"
SEED = 20261204
IGNORED_DIRS = ("_modules/", "_static/", "_sources/", "_images/", "_downloads/")
MIN_QUESTIONS = 15  # a set with fewer questions that have gold is not built


@dataclass(frozen=True)
class SetSpec:
    name: str
    package: str
    version: str
    doc_root: str  # inside the package, e.g. usr/share/doc/python-django-doc/html
    faq_pages: tuple[str, ...]  # page paths (relative to doc_root); a trailing "*" globs one folder
    style: str  # "sphinx" | "sqlite" | "asciidoc": how questions are marked up
    total_pages: int
    distractor_max_chars: int  # visible-text cap for a distractor page
    nav_pages: frozenset[str]  # navigation pages (never gold, never distractors), besides the root index.html
    spdx: str
    licence_note: str
    upstream: str
    copyright_files: str = "*"  # the debian/copyright stanza whose License covers the HTML (Celery: docs/*)


NAV = frozenset({"genindex.html", "search.html", "contents.html", "py-modindex.html"})  # Sphinx's own
SETS: dict[str, SetSpec] = {
    "django": SetSpec(
        name="django", package="python-django-doc", version="3:3.2.25-0+deb12u7",
        doc_root="usr/share/doc/python-django-doc/html", faq_pages=("faq/*",), style="sphinx",
        total_pages=120, distractor_max_chars=30_000, nav_pages=NAV,
        spdx="BSD-3-Clause", licence_note="Django's documentation, (c) Django Software Foundation and "
        "individual contributors", upstream="https://docs.djangoproject.com/en/3.2/"),
    "sqlite": SetSpec(
        name="sqlite", package="sqlite3-doc", version="3.40.1-2+deb12u2",
        doc_root="usr/share/doc/sqlite3", faq_pages=("faq.html",), style="sqlite",
        total_pages=80, distractor_max_chars=30_000,
        nav_pages=frozenset({"docs.html", "sitemap.html", "keyword_index.html", "toc.html"}),
        spdx="LicenseRef-public-domain", licence_note="SQLite's documentation, dedicated to the public domain "
        "by D. Richard Hipp and the SQLite developers", upstream="https://sqlite.org/docs.html"),
    "git": SetSpec(
        name="git", package="git-doc", version="1:2.39.5-0+deb12u3",
        doc_root="usr/share/doc/git-doc", faq_pages=("gitfaq.html",), style="asciidoc",
        total_pages=80, distractor_max_chars=30_000,
        nav_pages=frozenset({"git.html"}),
        spdx="GPL-2.0-only", licence_note="Git's documentation, (c) Linus Torvalds and others",
        upstream="https://git-scm.com/docs"),
    "sqlalchemy": SetSpec(
        name="sqlalchemy", package="python-sqlalchemy-doc", version="1.4.46+ds1-1",
        doc_root="usr/share/doc/python-sqlalchemy-doc/html", faq_pages=("faq/*",), style="sphinx",
        total_pages=120, distractor_max_chars=30_000, nav_pages=NAV,
        spdx="MIT", licence_note="SQLAlchemy's documentation, (c) the SQLAlchemy authors and contributors "
        "(Debian's `Expat` is SPDX `MIT`)", upstream="https://docs.sqlalchemy.org/en/14/"),
    "scrapy": SetSpec(
        name="scrapy", package="python-scrapy-doc", version="2.8.0-2",
        doc_root="usr/share/doc/python-scrapy-doc/html", faq_pages=("faq.html",), style="sphinx",
        total_pages=100, distractor_max_chars=30_000, nav_pages=NAV | {"404.html"},
        spdx="BSD-3-Clause", licence_note="Scrapy's documentation, (c) Scrapy developers",
        upstream="https://docs.scrapy.org/en/2.8/"),
    "celery": SetSpec(
        name="celery", package="python-celery-doc", version="5.2.6-5",
        doc_root="usr/share/doc/python-celery-doc/html", faq_pages=("faq.html",), style="sphinx",
        total_pages=100, distractor_max_chars=30_000, nav_pages=NAV,
        spdx="CC-BY-SA-4.0", licence_note="Celery User Manual by Ask Solem, (c) Ask Solem and contributors, "
        "under Creative Commons Attribution-ShareAlike 4.0 International (debian/copyright `Files: docs/*`; "
        "the package's copyright.html says the same); redistributed unmodified, with this attribution",
        upstream="https://docs.celeryq.dev/en/v5.2.6/", copyright_files="docs/*"),
    "sphinx": SetSpec(
        name="sphinx", package="sphinx-doc", version="5.3.0-4",
        doc_root="usr/share/doc/sphinx-doc/html", faq_pages=("faq.html",), style="sphinx",
        total_pages=100, distractor_max_chars=30_000, nav_pages=NAV,
        spdx="BSD-2-Clause", licence_note="Sphinx's documentation, (c) the Sphinx team",
        upstream="https://www.sphinx-doc.org/en/5.x/"),
}


# ---------------------------------------------------------------------------------------------- FAQ parsing
@dataclass
class Question:
    question: str
    faq_page: str
    hrefs: list[str]


_NUMBERING = re.compile(r"^\(\d+\)\s*")


def clean_heading(text: str) -> str:
    """A question heading's text: permalink marks, numbering and extra whitespace removed."""
    text = text.replace("\u00b6", "").replace("\uf0c1", "")
    text = " ".join(text.split())
    return _NUMBERING.sub("", text).strip()


def _is_heading(tag: Any) -> bool:
    return tag.name in ("h1", "h2", "h3", "h4", "h5", "h6")


def _question_of(style: str, tag: Any) -> str | None:
    """The question text if `tag` is a question heading in this markup style, else None."""
    if style == "sphinx":
        return tag.get_text() if tag.name in ("h2", "h3", "h4", "h5", "h6") else None
    if style == "sqlite":
        if tag.name == "p":
            bold = tag.find("b", recursive=False)
            if bold is not None and _NUMBERING.match(bold.get_text().strip()):
                return str(bold.get_text())
        return None
    if style == "asciidoc":
        return tag.get_text() if tag.name == "dt" else None
    raise ValueError(f"unknown FAQ style {style!r}")


def _content_root(soup: Any, style: str) -> Any:
    if style == "sphinx":  # the page's top section (themes differ in what wraps it; sidebars are outside)
        return soup.find("div", class_="section") or soup.find("section") or soup.body or soup
    if style == "asciidoc":
        return soup.find("div", id="content") or soup.body or soup
    return soup.body or soup


def parse_faq(html: bytes | str, faq_page: str, style: str) -> list[Question]:
    """Questions of one FAQ page in document order, each with the raw hrefs of its answer.

    An answer runs from its question heading to the next question heading or section heading;
    links inside the question heading itself (permalinks) are not part of it.
    """
    from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # XHTML (asciidoc) is parsed as HTML on purpose, as ingestion does
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "lxml")
    root = _content_root(soup, style)
    out: list[Question] = []
    current: Question | None = None
    heading: Any = None
    for tag in root.descendants:
        if not isinstance(tag, Tag):
            continue
        text = _question_of(style, tag)
        if text is not None:
            current = Question(clean_heading(text), faq_page, [])
            heading = tag
            out.append(current)
            continue
        if _is_heading(tag):
            current, heading = None, None
            continue
        if current is None or tag.name != "a" or not tag.get("href"):
            continue
        if heading is not None and heading in tag.parents:
            continue
        current.hrefs.append(str(tag["href"]))
    return [q for q in out if q.question]


def resolve_link(href: str, from_page: str) -> str | None:
    """`href` on page `from_page` -> a page path relative to the doc root (None: external/odd)."""
    parts = urlsplit(href.strip())
    if parts.scheme or parts.netloc or href.strip().startswith("//"):
        return None
    path = unquote(parts.path)
    if not path:
        return from_page  # a fragment on the same page
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(from_page), path))
    if joined.startswith("..") or joined.startswith("/"):
        return None
    if path.endswith("/"):
        joined += "/index.html"
    return joined


def is_nav_page(path: str, spec: SetSpec) -> bool:
    """The site's root index, genindex/search/contents-like pages, generated folders."""
    return path == "index.html" or path in spec.nav_pages or path.startswith(IGNORED_DIRS)


def gold_pages(q: Question, spec: SetSpec, faq: set[str], exists: Callable[[str], bool]) -> list[str]:
    gold: list[str] = []
    for href in q.hrefs:
        page = resolve_link(href, q.faq_page)
        if page is None or not page.endswith(".html") or page in faq or is_nav_page(page, spec):
            continue
        if exists(page) and page not in gold:
            gold.append(page)
    return gold


# ---------------------------------------------------------------------------------------------- pages
def page_title(html: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if not m:
        return ""
    import html as html_mod

    return " ".join(html_mod.unescape(m.group(1).decode("utf-8", "replace")).split())


def visible_chars(html: bytes) -> int:
    """Rough size of what ingestion will index: text outside script/style, whitespace collapsed."""
    text = re.sub(rb"(?is)<(script|style)\b.*?</\1>", b" ", html)
    text = re.sub(rb"(?s)<[^>]+>", b" ", text)
    return len(b" ".join(text.split()))


def list_pages(doc: Path) -> list[str]:
    return sorted(p.relative_to(doc).as_posix() for p in doc.rglob("*.html") if p.is_file())


def expand_faq(spec: SetSpec, pages: Iterable[str]) -> list[str]:
    out: list[str] = []
    all_pages = list(pages)
    for pattern in spec.faq_pages:
        if pattern.endswith("*"):
            out += [p for p in all_pages if p.startswith(pattern[:-1]) and "/" not in p[len(pattern) - 1:]]
        else:
            out.append(pattern)
    return sorted(set(out))


# ---------------------------------------------------------------------------------------------- package
def fetch_package(spec: SetSpec, any_version: bool) -> tuple[Path, str, str, Path]:
    """(unpacked root, version, sha256 of the .deb, the .deb) for `spec`'s package."""
    CACHE.mkdir(parents=True, exist_ok=True)
    want = spec.package if any_version else f"{spec.package}={spec.version}"
    debs = sorted(CACHE.glob(f"{spec.package}_*.deb"))
    pinned = [d for d in debs if _deb_version(d) == spec.version]
    if any_version or not pinned:
        for d in debs:
            d.unlink()
        print(f"apt-get download {want}", flush=True)
        subprocess.run(["apt-get", "download", want], cwd=CACHE, check=True)
        debs = sorted(CACHE.glob(f"{spec.package}_*.deb"))
        if len(debs) != 1:
            raise SystemExit(f"expected one {spec.package} .deb in {CACHE}, found {debs}")
        deb = debs[0]
    else:
        deb = pinned[0]
    version = _deb_version(deb)
    sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    unpacked = CACHE / f"{spec.package}_{sha[:12]}"
    if not (unpacked / spec.doc_root).is_dir():
        shutil.rmtree(unpacked, ignore_errors=True)
        unpacked.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    return unpacked, version, sha, deb


def _deb_version(deb: Path) -> str:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def copyright_licence(unpacked: Path, package: str, files: str = "*") -> tuple[str, str]:
    """(the `License:` of the `Files: <files>` stanza, the copyright file's path in the package)."""
    rel = f"usr/share/doc/{package}/copyright"
    text = (unpacked / rel).read_text(encoding="utf-8", errors="replace")
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"(?m)^([A-Za-z-]+):[ \t]*(.*)$", stanza))
        if fields.get("Files", "").strip() == files and "License" in fields:
            return fields["License"].strip(), "/" + rel
    raise SystemExit(f"{rel}: no 'Files: {files}' stanza with a License")


# ---------------------------------------------------------------------------------------------- build
def build_set(spec: SetSpec, any_version: bool = False) -> dict[str, Any] | None:
    """Build and write one set; None (nothing written) if it has fewer than MIN_QUESTIONS questions."""
    unpacked, version, sha, deb = fetch_package(spec, any_version)
    doc = unpacked / spec.doc_root
    pages = list_pages(doc)
    page_set = set(pages)
    faq = expand_faq(spec, pages)
    faq_set = set(faq)
    questions: list[dict[str, Any]] = []
    dropped = 0
    for fp in faq:
        for q in parse_faq((doc / fp).read_bytes(), fp, spec.style):
            gold = gold_pages(q, spec, faq_set, page_set.__contains__)
            if not gold:
                dropped += 1
                continue
            questions.append({"id": f"{spec.name}-{len(questions) + 1:03d}", "question": q.question,
                              "gold": gold, "faq_page": fp})
    if len(questions) < MIN_QUESTIONS:
        print(f"{spec.name}: {len(questions)} FAQ questions with gold pages (< {MIN_QUESTIONS}): not built "
              f"({dropped} without gold)", flush=True)
        shutil.rmtree(OUT_DIR / spec.name, ignore_errors=True)
        return None
    gold_all = sorted({g for q in questions for g in q["gold"]})
    sizes = {p: visible_chars((doc / p).read_bytes()) for p in pages}
    candidates = [p for p in pages if p not in faq_set and p not in gold_all and not is_nav_page(p, spec)
                  and sizes[p] <= spec.distractor_max_chars]
    rng = random.Random(f"{SEED}:{spec.name}")
    n_distract = max(0, spec.total_pages - len(gold_all))
    distractors = sorted(rng.sample(candidates, min(n_distract, len(candidates))))
    course = sorted(set(gold_all) | set(distractors))
    licence, copyright_path = copyright_licence(unpacked, spec.package, spec.copyright_files)
    out = OUT_DIR / spec.name
    out.mkdir(parents=True, exist_ok=True)
    _write_tar(out / "pages.tar.xz", doc, course)
    devset = {
        "name": spec.name,
        "package": spec.package,
        "version": version,
        "deb": deb.name,
        "deb_sha256": sha,
        "doc_root": spec.doc_root,
        "upstream": spec.upstream,
        "licence": {"spdx": spec.spdx, "debian_copyright_license": licence,
                    "from": f"{copyright_path} in {spec.package} {version} "
                            f"(stanza 'Files: {spec.copyright_files}')",
                    "note": spec.licence_note},
        "built_by": f"python -m bench.docs_devset --set {spec.name}",
        "seed": SEED,
        "faq_pages": faq,
        "stats": {"faq_questions": len(questions) + dropped, "dropped_without_gold": dropped,
                  "gold_pages": len(gold_all), "distractor_pages": len(distractors),
                  "pages": len(course), "visible_chars": sum(sizes[p] for p in course),
                  "distractor_max_chars": spec.distractor_max_chars},
        "pages": [{"path": p, "title": page_title((doc / p).read_bytes())} for p in course],
        "questions": questions,
    }
    (out / "devset.json").write_text(json.dumps(devset, indent=1, ensure_ascii=False) + "\n")
    return devset


def _write_tar(path: Path, doc: Path, pages: list[str]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=9, format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(pages):
            data = (doc / p).read_bytes()
            info = tarfile.TarInfo(p)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def read_pages(set_dir: Path) -> dict[str, bytes]:
    """The course pages of a built set: page path -> HTML bytes (for the eval)."""
    out: dict[str, bytes] = {}
    with tarfile.open(set_dir / "pages.tar.xz", mode="r:xz") as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is not None:
                out[member.name] = f.read()
    return out


LICENSE_HEAD = """# Licences of the documentation dev sets

Each `<set>/pages.tar.xz` holds unmodified HTML pages of a Debian documentation package, and each
`<set>/devset.json` holds questions (FAQ headings) and page paths taken from the same package. They
are redistributed under the package's licence, as stated in its `debian/copyright` (`Files: *`, or
the stanza covering the documentation when it has its own, named in the table).
Rebuilt by `python -m bench.docs_devset` (see its docstring).

| set | Debian package | version | licence (SPDX) | debian/copyright says | upstream |
|---|---|---|---|---|---|
"""


def write_licence(devsets: list[dict[str, Any]]) -> None:
    rows = [f"| {d['name']} | {d['package']} | {d['version']} | {d['licence']['spdx']} | "
            f"`License: {d['licence']['debian_copyright_license']}` ({d['licence']['from']}) | {d['upstream']} |"
            for d in devsets]
    built = {d["name"] for d in devsets}
    notes = ["", *(f"- {d['name']}: {d['licence']['spdx']}: {d['licence']['note']}." for d in devsets)]
    notes += [f"- {s.name} ({s.package}, {s.spdx}): not built: its FAQ has fewer than {MIN_QUESTIONS} questions "
              "whose answers link to other pages of the package." for s in SETS.values() if s.name not in built]
    notes += ["", "`LicenseRef-public-domain`: SPDX has no identifier for a public-domain dedication "
              "(SQLite's, https://sqlite.org/copyright.html).", ""]
    (OUT_DIR / "LICENSE.md").write_text(LICENSE_HEAD + "\n".join(rows) + "\n" + "\n".join(notes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the docs dev sets from Debian packages.")
    parser.add_argument("--set", choices=sorted(SETS), action="append", help="only this set (repeatable)")
    parser.add_argument("--any-version", action="store_true", help="apt's candidate instead of the pinned version")
    args = parser.parse_args(argv)
    names = args.set or list(SETS)
    for name in names:
        d = build_set(SETS[name], args.any_version)
        if d is None:
            continue
        size = (OUT_DIR / name / "pages.tar.xz").stat().st_size
        print(f"{name}: {json.dumps(d['stats'])}, pages.tar.xz {size / 1e6:.2f} MB", flush=True)
    built = [json.loads((OUT_DIR / n / "devset.json").read_text()) for n in SETS
             if (OUT_DIR / n / "devset.json").exists()]
    write_licence(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
