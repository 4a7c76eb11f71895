"""Real documentation text for benchmarks: Debian's HTML manuals, chunked and embedded by the product.

The bench fetches three documentation packages of Debian bookworm itself, once, into
``.cache/bench-corpus`` (``apt-get download`` + ``dpkg-deb -x``; nothing is installed):

- postgresql-doc-15 (the PostgreSQL 15 manual, HTML),
- python-django-doc (the Django 3.2 documentation, Sphinx HTML),
- sqlite3-doc (the SQLite documentation, HTML).

Every page (minus release notes, generated indexes and highlighted source listings) goes through
the product's own `smartcourse.ai.extract.extract` and `smartcourse.ai.chunking.chunk_document`
(256 MiniLM tokens, 32 of overlap); the chunks are cached (gzip JSON, keyed by the packages and the
source of the extractor and the chunker). `select_chunks` takes a seeded sample of distinct chunks;
`embed_cached` embeds texts with the product's `MiniLMEmbedder` and caches the vectors (npz keyed
by a hash of the texts and the model version), so only the first run pays for the model.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT / ".cache" / "bench-corpus"
#: Debian package -> its HTML directory inside the package.
PACKAGES = {
    "postgresql-doc-15": "usr/share/doc/postgresql-doc-15/html",
    "python-django-doc": "usr/share/doc/python-django-doc/html",
    "sqlite3-doc": "usr/share/doc/sqlite3",
}
#: Pages that are not documentation prose: release notes, generated indexes, source listings,
#: SQLite's one-page copy of its C API reference (also present page by page) and its keyword index.
EXCLUDE = re.compile(
    r"(^|/)(release-[^/]*\.html|releases/|releaselog/|_modules/|_sources/|genindex[^/]*\.html|py-modindex\.html"
    r"|search\.html|bookindex\.html|capi3ref\.html|doc_keyword_crossref\.html|sqlanalyze\.html|changes\.html)"
)
#: A selected chunk carries at least this many tokens (drops navigation menus and stubs).
MIN_TOKENS = 48


@dataclass(frozen=True)
class CorpusChunk:
    package: str
    page: str
    title: str
    ordinal: int
    text: str
    metadata: dict[str, Any]
    token_count: int
    headings: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        context = self.metadata.get("context") or ""
        prefix = f"{context}\n\n" if context else ""
        return self.text[len(prefix):] if prefix and self.text.startswith(prefix) else self.text


@dataclass
class FirstRunCost:
    """Seconds spent this run building the caches (0 where the cache was already there)."""
    download_s: float = 0.0
    unpack_s: float = 0.0
    extract_chunk_s: float = 0.0
    embed_s: float = 0.0
    embedded: int = 0

    def describe(self) -> str:
        if not (self.download_s or self.unpack_s or self.extract_chunk_s or self.embed_s):
            return "all from the cache (.cache/bench-corpus)"
        rate = f", {self.embedded / self.embed_s:.0f} texts/s" if self.embed_s else ""
        return (f"built this run: download {self.download_s:.1f} s, unpack {self.unpack_s:.1f} s, "
                f"extract + chunk {self.extract_chunk_s:.0f} s, embed {self.embedded:,} texts "
                f"{self.embed_s:.0f} s{rate}")


def fetch_packages(cost: FirstRunCost, only: Sequence[str] | None = None) -> dict[str, tuple[str, Path]]:
    """package -> (.deb file name, unpacked HTML directory) for `only` (default: every package of
    PACKAGES); downloads and unpacks only what is missing."""
    debs_dir = CORPUS_DIR / "debs"
    debs_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[str, Path]] = {}
    for package, html_dir in PACKAGES.items():
        if only is not None and package not in only:
            continue
        debs = sorted(debs_dir.glob(f"{package}_*.deb"))
        if not debs:
            t0 = time.perf_counter()
            done = subprocess.run(["apt-get", "download", "-q", package], cwd=debs_dir, capture_output=True,
                                  text=True, timeout=600, check=False)
            cost.download_s += time.perf_counter() - t0
            debs = sorted(debs_dir.glob(f"{package}_*.deb"))
            if done.returncode != 0 or not debs:
                raise RuntimeError(f"apt-get download {package} failed ({done.returncode}): "
                                   f"{(done.stderr or done.stdout).strip()[-500:]} (Debian bookworm's package "
                                   f"lists are needed: apt-get update)")
        deb = debs[-1]
        target = CORPUS_DIR / "unpacked" / package
        stamp = target / ".from"
        if not stamp.exists() or stamp.read_text() != deb.name:
            t0 = time.perf_counter()
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True, capture_output=True, timeout=600)
            stamp.write_text(deb.name)
            cost.unpack_s += time.perf_counter() - t0
        out[package] = (deb.name, target / html_dir)
    return out


def _code_fingerprint() -> str:
    from smartcourse.ai import chunking, extract

    h = hashlib.sha256()
    for mod in (extract, chunking):
        h.update(inspect.getsource(mod).encode())
    h.update(EXCLUDE.pattern.encode())
    return h.hexdigest()[:16]


def _pages(html_dir: Path) -> list[Path]:
    pages = []
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir).as_posix()
        if p.is_file() and not p.is_symlink() and not EXCLUDE.search(rel):
            pages.append(p)
    return pages


def all_chunks(cost: FirstRunCost) -> tuple[list[CorpusChunk], dict[str, Any]]:
    """Every chunk of every kept page, through the product's extractor and chunker (cached)."""
    from smartcourse.ai.chunking import chunk_document
    from smartcourse.ai.extract import ExtractionError, extract

    packages = fetch_packages(cost)
    key = hashlib.sha256(json.dumps([[k, v[0]] for k, v in sorted(packages.items())]).encode()
                         + _code_fingerprint().encode()).hexdigest()[:16]
    cache = CORPUS_DIR / f"chunks-{key}.json.gz"
    if cache.exists():
        data = json.loads(gzip.decompress(cache.read_bytes()))
        return [CorpusChunk(**c) for c in data["chunks"]], data["info"]
    t0 = time.perf_counter()
    chunks: list[CorpusChunk] = []
    info: dict[str, Any] = {"packages": {}, "failed_pages": 0}
    for package, (deb, html_dir) in sorted(packages.items()):
        pages = _pages(html_dir)
        n_chunks = 0
        for page in pages:
            rel = page.relative_to(html_dir).as_posix()
            try:
                doc = extract(page.read_bytes(), page.name, "text/html")
            except ExtractionError:
                info["failed_pages"] += 1
                continue
            for c in chunk_document(doc):
                headings = [str(h) for h in c.location.get("heading_path") or []]
                chunks.append(CorpusChunk(package=package, page=rel, title=doc.title, ordinal=c.ordinal,
                                          text=c.text, metadata={**c.location, "context": c.context},
                                          token_count=c.token_count, headings=headings))
                n_chunks += 1
        info["packages"][package] = {"deb": deb, "pages": len(pages), "chunks": n_chunks}
    cost.extract_chunk_s += time.perf_counter() - t0
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps({"info": info, "chunks": [asdict(c) for c in chunks]}).encode()))
    tmp.replace(cache)
    return chunks, info


def select_chunks(chunks: Sequence[CorpusChunk], n: int, seed: int) -> list[CorpusChunk]:
    """A seeded sample of `n` chunks with distinct bodies and at least MIN_TOKENS tokens, in document order.

    A chunk is drawn by a seeded hash of where it is (package, page, ordinal), not by its index in the
    pool, so a change to the extractor or the chunker that alters some pages keeps the other pages'
    draws (and their cached vectors)."""
    seen: set[str] = set()
    pool = []
    for c in chunks:
        key = " ".join(c.body.split()).lower()
        if c.token_count >= MIN_TOKENS and key not in seen:
            seen.add(key)
            pool.append(c)
    if len(pool) < n:
        raise RuntimeError(f"only {len(pool)} distinct chunks in the corpus; {n} wanted")

    def draw(c: CorpusChunk) -> bytes:
        return hashlib.sha256(f"{seed}:{c.package}:{c.page}:{c.ordinal}".encode()).digest()

    order = {id(c): i for i, c in enumerate(pool)}
    return sorted(sorted(pool, key=draw)[:n], key=lambda c: order[id(c)])


_SECTION_NUMBER = re.compile(r"^(?:(?:Chapter|Appendix|Part)\s+)?(?:(?:[A-Z]|[IVX]+)(?:\.\d+)*\.|\d+(?:\.\d+)*\.?)\s+")
_WORD = re.compile(r"^[A-Za-z][A-Za-z'-]*[,.;:]?$")


def _clean_heading(h: str) -> str:
    h = " ".join(h.replace("\u00b6", " ").split())
    return _SECTION_NUMBER.sub("", h, count=1).strip(" .:")


def questions(chunks: Sequence[CorpusChunk], n: int, seed: int) -> list[str]:
    """`n` questions in the corpus's own wording, mixed: about half a 5-12 word fragment of a random
    chunk's prose, half one of its headings turned into a question ("How do I ...?", "What is ...?")."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    templates = ("How do I {}?", "What is {}?", "How does {} work?", "Explain {}")
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n:
            raise RuntimeError("could not draw enough questions from the corpus")
        c = chunks[int(rng.integers(0, len(chunks)))]
        q = ""
        if rng.random() < 0.5:
            words = c.body.split()
            length = int(rng.integers(5, 13))
            if len(words) < length:
                continue
            start = int(rng.integers(0, len(words) - length + 1))
            window = words[start:start + length]
            if sum(bool(_WORD.match(w)) for w in window) < 0.7 * length:
                continue  # mostly code, numbers or markup: not a question's wording
            q = " ".join(window).strip(" ,.;:")
        else:
            heads = [_clean_heading(h) for h in c.headings]
            heads = [h for h in heads if 2 <= len(h.split()) <= 10 and h[0].isalpha() and re.search(r"[a-z]{3}", h)]
            if not heads:
                continue
            h = heads[int(rng.integers(0, len(heads)))]
            tpl = templates[int(rng.integers(0, len(templates)))]
            # Title Case -> lower case ("Comparison Expressions" -> "comparison expressions"); SQL, TestCase stay
            h = " ".join(w.lower() if w[:1].isupper() and w[1:].islower() else w for w in h.split())
            q = tpl.format(h)
        if q and q.lower() not in seen:
            seen.add(q.lower())
            out.append(q)
    return out


def _text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode()).hexdigest().encode()


def embed_cached(texts: Sequence[str], cost: FirstRunCost, *, progress: bool = True) -> np.ndarray:
    """The product embedder's vectors of `texts` (float32, rows L2-normalised).

    Cached per text in .cache/bench-corpus/vectors-<model version>.npz (sha1 of the text -> vector):
    only texts never embedded by this model version are embedded."""
    from smartcourse.ai.embeddings import MODEL_VERSION, MiniLMEmbedder

    store = CORPUS_DIR / f"vectors-{hashlib.sha256(MODEL_VERSION.encode()).hexdigest()[:12]}.npz"
    known: dict[bytes, np.ndarray] = {}
    if store.exists():
        with np.load(store) as z:
            known = dict(zip((bytes(k) for k in z["keys"]), np.asarray(z["vectors"], dtype=np.float32),
                             strict=True))
    keys = [_text_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        embedder = MiniLMEmbedder()
        t0 = time.perf_counter()
        step = 512
        for i in range(0, len(missing), step):
            part = missing[i:i + step]
            for (k, _), v in zip(part, embedder.embed([t for _, t in part]), strict=True):
                known[k] = v
            if progress and len(missing) > step:
                print(f"bench: embedding {min(i + step, len(missing)):,}/{len(missing):,} texts "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
        cost.embed_s += time.perf_counter() - t0
        cost.embedded += len(missing)
        CORPUS_DIR.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(store.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(list(known), dtype="S40"), vectors=np.stack(list(known.values())),
                 model_version=np.array(MODEL_VERSION))
        tmp.replace(store)
    return np.stack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, 384), np.float32)
