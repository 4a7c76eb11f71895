"""Structure-aware chunking of an `ExtractedDocument` into embedding-sized chunks.

Rules:

- A chunk never spans two pages, two slides or two heading paths: sections are grouped
  by the *structural* part of their location (``page``, ``slide``, ``heading_path``).
- Within a group, consecutive small sections (paragraphs, transcript cues) are packed
  into one chunk while it fits. The merged location keeps the range: transcript chunks
  run from the first cue's ``start`` to the last cue's ``end``; plain-text chunks carry
  ``paragraph`` .. ``paragraph_end``.
- A section too long for one chunk is split with LangChain's
  `RecursiveCharacterTextSplitter` (paragraph, line, sentence, word boundaries), measured
  in model tokens, with ``overlap_tokens`` of overlap between consecutive pieces.
  Consecutive transcript chunks also overlap by whole cues.
- A section that fits a chunk is never cut: when it does not fit in what is left of the
  current chunk it starts the next one (so a code block that fits stays whole, lines and
  indentation kept). A short lead-in ending in ":" ("For example:") that would end a chunk
  moves to the next one, with what it introduces.
- Every chunk's text starts with its context, e.g. ``"Course notes > Indexes > B-tree"``,
  so it embeds (and reads) on its own. A first heading that repeats the title, or starts with
  it ("git-mv(1)" and "git-mv(1) Manual Page"), stands for both. ``token_count`` counts the whole text, as the
  token counter counts it, and never exceeds ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from smartcourse.ai.extract import ExtractedDocument, Section

__all__ = ["CONTEXT_SEPARATOR", "Chunk", "chunk_document"]

CONTEXT_SEPARATOR = " > "
#: Location keys that delimit chunks: sections differing in any of them never share one.
_STRUCTURAL_KEYS = ("page", "slide", "heading_path", "title")
#: Separators tried in order when splitting a long section (keep_separator="end").
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ", ""]


@dataclass(frozen=True, slots=True)
class Chunk:
    #: What to embed and show: the context line, a blank line, then the body.
    text: str
    location: dict[str, Any]
    #: 0-based position of the chunk in the document.
    ordinal: int
    #: ``token_counter(text)``; at most ``max_tokens``.
    token_count: int
    #: Title and heading path (or slide title) that prefixes ``text``; may be "".
    context: str = ""

    @property
    def body(self) -> str:
        """The text without its context prefix."""
        prefix = f"{self.context}\n\n" if self.context else ""
        return self.text[len(prefix) :] if prefix and self.text.startswith(prefix) else self.text


def chunk_document(
    doc: ExtractedDocument,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    token_counter: Callable[[str], int] | None = None,
) -> list[Chunk]:
    """Chunks of ``doc`` in document order, each at most ``max_tokens`` by ``token_counter``.

    ``token_counter`` defaults to `smartcourse.ai.embeddings.count_tokens` (MiniLM tokens,
    [CLS]/[SEP] included, so the default 256 is exactly what the model reads untruncated).
    A counter that counts something for "" (special tokens) is handled: that constant is
    charged once per chunk, not once per piece.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be in [0, max_tokens)")
    if token_counter is None:
        from smartcourse.ai.embeddings import count_tokens

        token_counter = count_tokens
    chunker = _Chunker(doc, max_tokens, overlap_tokens, token_counter)
    return chunker.run()


class _Chunker:
    def __init__(self, doc: ExtractedDocument, max_tokens: int, overlap: int, counter: Callable[[str], int]) -> None:
        self.doc = doc
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.count = counter
        self.base = max(0, counter(""))
        self.chunks: list[Chunk] = []

        @lru_cache(maxsize=8192)
        def content_len(text: str) -> int:
            return max(0, counter(text) - self.base)

        self.content_len = content_len

    # ---------------------------------------------------------------- driver

    def run(self) -> list[Chunk]:
        for group in _groups(self.doc.sections):
            self._chunk_group(group)
        return self.chunks

    def _chunk_group(self, group: list[Section]) -> None:
        first = group[0].location
        context = self._context(first)
        budget = self._budget(context)
        if budget < max(4, self.max_tokens // 4):  # absurdly long headings: drop them
            context = self._fit_context(context)
            budget = self._budget(context)
        sections = [_strip_repeated_title(s, first.get("title")) for s in group]
        is_timed = "start" in first
        pack: list[Section] = []
        pack_len = 0
        for section in sections:
            size = self.content_len(section.text)
            if size > budget:
                self._emit_pack(pack, context)
                pack, pack_len = [], 0
                self._emit_split(section, context, budget)
                continue
            if pack and pack_len + size > budget:
                if is_timed:
                    self._emit_pack(pack, context)
                    pack, pack_len = self._carry_over(pack, size, budget)
                elif len(pack) > 1 and _is_lead_in(pack[-1].text) and (
                    (lead := self.content_len(pack[-1].text)) + size <= budget
                ):
                    # "For example:" goes with what it introduces, not at the end of the chunk before.
                    self._emit_pack(pack[:-1], context)
                    pack, pack_len = [pack[-1]], lead
                else:
                    self._emit_pack(pack, context)
                    pack, pack_len = [], 0
            pack.append(section)
            pack_len += size
        self._emit_pack(pack, context)

    # ---------------------------------------------------------------- context

    def _context(self, location: dict[str, Any]) -> str:
        title = self.doc.title.strip()
        parts = [title] if title else []
        path = location.get("heading_path") or []
        for i, heading in enumerate(path):
            if i == 0 and title and _repeats(title, heading):
                # "git-rebase(1)" then "git-rebase(1) Manual Page": the heading says it all
                parts = [str(heading).strip()]
                continue
            parts.append(str(heading))
        slide_title = location.get("title")
        if slide_title and slide_title.strip().lower() != title.lower():
            parts.append(str(slide_title))
        return CONTEXT_SEPARATOR.join(parts)

    def _budget(self, context: str) -> int:
        """Content tokens left for the body once the context and specials are paid for."""
        header = f"{context}\n\n" if context else ""
        return self.max_tokens - self.base - self.content_len(header)

    def _fit_context(self, context: str) -> str:
        """Drop leading context parts (title first, then top headings) until it fits."""
        parts = context.split(CONTEXT_SEPARATOR)
        while parts:
            candidate = CONTEXT_SEPARATOR.join(parts)
            if self._budget(candidate) >= max(4, self.max_tokens // 2):
                return candidate
            parts = parts[1:]
        return ""

    # ---------------------------------------------------------------- emit

    def _emit(self, body: str, location: dict[str, Any], context: str) -> None:
        body = body.rstrip()
        if not body:
            return
        # Leading blank lines go; a code block's first line keeps its indentation.
        body = body[body.rfind("\n", 0, len(body) - len(body.lstrip())) + 1 :]
        text = f"{context}\n\n{body}" if context else body
        count = self.count(text)
        if count > self.max_tokens:
            # Token counts are not exactly additive across split points; cut hard.
            for piece in self._hard_split(body, self._budget(context)):
                self._emit(piece, location, context)
            return
        self.chunks.append(
            Chunk(text=text, location=location, ordinal=len(self.chunks), token_count=count, context=context)
        )

    def _emit_pack(self, pack: Sequence[Section], context: str) -> None:
        if pack:
            joiner = "\n" if "start" in pack[0].location else "\n\n"
            self._emit(joiner.join(s.text for s in pack), _merge_locations(pack), context)

    def _emit_split(self, section: Section, context: str, budget: int) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=budget,
            chunk_overlap=min(self.overlap, budget // 2),
            length_function=self.content_len,
            separators=_SEPARATORS,
            keep_separator="end",
            strip_whitespace=True,
        )
        for piece in splitter.split_text(section.text):
            self._emit(piece, _merge_locations([section]), context)

    def _carry_over(self, pack: list[Section], incoming: int, budget: int) -> tuple[list[Section], int]:
        """Trailing cues of the last chunk that start the next one (timed media overlap)."""
        carried: list[Section] = []
        total = 0
        for section in reversed(pack):
            size = self.content_len(section.text)
            if total + size > self.overlap or total + size + incoming > budget:
                break
            carried.insert(0, section)
            total += size
        if len(carried) == len(pack):  # never repeat a whole chunk
            return [], 0
        return carried, total

    def _hard_split(self, text: str, budget: int) -> list[str]:
        """Longest prefixes within ``budget`` tokens, cut at whitespace where possible."""
        budget = max(1, budget)
        pieces: list[str] = []
        rest = text.strip()
        while rest:
            if self.content_len(rest) <= budget:
                pieces.append(rest)
                break
            lo, hi = 1, len(rest)  # invariant: rest[:lo] fits (or lo == 1), rest[:hi] may not
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.content_len(rest[:mid]) <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            cut = lo
            space = rest.rfind(" ", 0, cut + 1)
            if space > cut // 2:
                cut = space
            pieces.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        return [p for p in pieces if p]


def _structural_key(location: dict[str, Any]) -> Hashable:
    return tuple(
        (key, tuple(value) if isinstance(value, list) else value)
        for key in _STRUCTURAL_KEYS
        if (value := location.get(key)) is not None
    )


def _groups(sections: Sequence[Section]) -> list[list[Section]]:
    groups: list[list[Section]] = []
    last_key: Hashable = object()
    for section in sections:
        key = _structural_key(section.location)
        if groups and key == last_key:
            groups[-1].append(section)
        else:
            groups.append([section])
            last_key = key
    return groups


def _merge_locations(sections: Sequence[Section]) -> dict[str, Any]:
    first, last = sections[0].location, sections[-1].location
    merged = {k: (list(v) if isinstance(v, list) else v) for k, v in first.items()}
    for key in ("end", "end_seconds"):
        if key in last:
            merged[key] = last[key]
    if "paragraph" in first:
        merged["paragraph_end"] = last.get("paragraph_end", last.get("paragraph", first["paragraph"]))
    return merged


def _repeats(title: str, heading: str) -> bool:
    """The heading is the title, or the title followed by more words."""
    title, heading = title.strip().lower(), heading.strip().lower()
    if not heading.startswith(title):
        return False
    rest = heading[len(title) :]
    return not rest or not rest[0].isalnum()


def _is_lead_in(text: str) -> bool:
    """A short line that introduces what follows ("For example:", "The basics:")."""
    return text.rstrip().endswith(":") and len(text) <= 160 and "\n" not in text.strip()


def _strip_repeated_title(section: Section, title: Any) -> Section:
    """A slide's text starts with its title, which is already in the chunk context."""
    if not title or not isinstance(title, str):
        return section
    head, sep, rest = section.text.partition("\n")
    if sep and head.strip() == title.strip() and rest.strip():
        return Section(rest.strip(), section.location)
    return section
