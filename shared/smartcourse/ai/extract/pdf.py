"""PDF: the text of each page (``{"page": n}``), without running headers/footers and page numbers.

pypdf (imported when a PDF is read) works under `ExtractionLimits`' stream bounds: a stream that
decompresses or parses past them is `DocumentTooLarge`.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from smartcourse.ai.extract.common import _SPACES, _clean, _real_title
from smartcourse.ai.extract.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ExtractionError,
)
from smartcourse.ai.extract.limits import _MIB, ExtractionLimits
from smartcourse.ai.extract.model import Section


def _extract_pdf(data: bytes, limits: ExtractionLimits, warnings: list[str]) -> tuple[list[Section], str | None]:
    from pypdf import apply_configuration

    cap = limits.max_pdf_stream_bytes
    with apply_configuration(
        maximum_declared_stream_length=cap, array_based_stream_maximum_output_length=cap,
        zlib_maximum_output_length=cap, lzw_maximum_output_length=cap, run_length_maximum_output_length=cap,
        brotli_maximum_output_length=cap, jbig2_maximum_output_length=cap, image_maximum_buffer_size=cap,
        stream_decoding_work_maximum_length=4 * cap, stream_parsing_work_maximum_count=limits.max_pdf_stream_tokens,
    ):
        return _extract_pdf_bounded(data, limits, warnings)


def _too_large_pdf(limits: ExtractionLimits, where: str) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"the PDF is too large when decompressed: {where} exceeds {limits.max_pdf_stream_bytes / _MIB:.0f} MiB "
        f"or {limits.max_pdf_stream_tokens:,} content tokens"
    )


def _extract_pdf_bounded(data: bytes, limits: ExtractionLimits,
                         warnings: list[str]) -> tuple[list[Section], str | None]:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError, WrongPasswordError

    # pypdf raises its own errors for most damage, but deeply broken files can surface as
    # builtin exceptions from its parser; all of them mean "cannot read this PDF".
    parse_errors = (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        AssertionError,
        RecursionError,
        OSError,
        EOFError,
        UnicodeDecodeError,
        OverflowError,
        ZeroDivisionError,
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                # Owner-password-only PDFs (restrictions, no open password) decrypt with "".
                opened = reader.decrypt("")
            except (WrongPasswordError, FileNotDecryptedError, DependencyError, NotImplementedError) as exc:
                raise EncryptedDocument("the PDF is password-protected; upload it without a password") from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise EncryptedDocument("the PDF is password-protected; upload it without a password")
        page_count = len(reader.pages)
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise _too_large_pdf(limits, "its structure") from exc
    except parse_errors as exc:
        raise CorruptDocument("the PDF is damaged or not a PDF and cannot be read") from exc

    if page_count > limits.max_pdf_pages:
        raise DocumentTooLarge(f"the PDF has {page_count} pages; the limit is {limits.max_pdf_pages}")
    if page_count == 0:
        raise EmptyDocument("the PDF has no pages")

    pages: list[tuple[int, list[str]]] = []
    failed = 0
    chars = 0
    for number in range(1, page_count + 1):
        try:
            raw = reader.pages[number - 1].extract_text() or ""
        except LimitReachedError as exc:
            raise _too_large_pdf(limits, f"page {number}") from exc
        except parse_errors:
            failed += 1
            warnings.append(f"page {number}: text could not be extracted")
            continue
        lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        size = sum(len(_SPACES.sub(" ", line).strip()) for line in lines)
        if size:
            pages.append((number, lines))
            chars += size
            if chars > limits.max_text_chars:  # stop reading pages as soon as the answer is known
                raise DocumentTooLarge(
                    f"the document holds over {limits.max_text_chars:,} characters of text (by page {number})"
                )
    sections: list[Section] = []
    for number, lines in _strip_page_furniture(pages):
        text = _clean(_dehyphenate("\n".join(lines)))
        if text:
            sections.append(Section(text, {"page": number}))
    if failed == page_count:
        raise CorruptDocument("no page of the PDF could be read")

    title: str | None = None
    try:
        meta = reader.metadata
        if meta is not None and meta.title:
            title = _real_title(str(meta.title))
    except parse_errors:
        title = None
    return sections, title


# Page furniture: running headers/footers and page numbers at the top or bottom of pages.
_EDGE_LINES = 3
_DIGITS = re.compile(r"\d+")
# "Page 12", "p. 12", "Page 12 of 40", "12 of 40", "12 / 40": a page number whatever the page.
_PAGE_LABEL = re.compile(
    r"^(?:(?:page|p\.|pg\.?|seite)\s*\d{1,5}(?:\s*(?:of|/|von)\s*\d{1,5})?|\d{1,5}\s*(?:of|/)\s*\d{1,5})$",
    re.IGNORECASE,
)
# "12", "- 12 -", "(12)", "[12]", "xii": a page number when it follows the page sequence.
_BARE_NUMBER = re.compile("^[-\u2013\u2014(\\[]?\\s*(\\d{1,5}|[ivxlcdm]{1,8})\\s*[-\u2013\u2014)\\]]?$", re.IGNORECASE)
_END_NUMBER = re.compile(r"^(\d{1,5})\b|\b(\d{1,5})$")
_ROMAN = re.compile(r"^m{0,4}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$", re.IGNORECASE)
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
# A running line whose number changes from page to page ("Course notes — 3") is furniture only if it
# reads like one: several words, a "page", or a separator; "Exercise 3" on three pages is content.
_RUNNING_SEPARATORS = re.compile("[|\u2014\u2013\u00b7\u2022]|\\bpage\\b", re.IGNORECASE)


def _line_text(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _line_key(line: str) -> str:
    return _DIGITS.sub("#", unicodedata.normalize("NFKC", _line_text(line)).casefold())


def _page_number_value(line: str) -> tuple[str, int] | None:
    """("arabic", 12) for "- 12 -", ("roman", 12) for "xii"; None when the line is not a number."""
    m = _BARE_NUMBER.match(line)
    if m is None:
        return None
    token = m.group(1)
    if token.isdigit():
        return "arabic", int(token)
    if not _ROMAN.match(token):
        return None
    total = 0
    values = [_ROMAN_VALUES[c] for c in token.lower()]
    for i, value in enumerate(values):
        total += -value if i + 1 < len(values) and values[i + 1] > value else value
    return "roman", total


def _numbered_running_line(key: str) -> bool:
    """A line whose number changes between pages reads like a running header/footer: the number
    at one end ("Course notes — 3", "12 | Introduction") and several words or a separator."""
    at_an_end = key[:1] == "#" or key[-1:] == "#"
    return at_an_end and (len(key.split()) >= 3 or bool(_RUNNING_SEPARATORS.search(key)))


def _strip_page_furniture(pages: Sequence[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """Drop running headers/footers and page numbers from the top and bottom of each page.

    - A line within the first or last `_EDGE_LINES` lines of at least half of the pages (and at
      least 3), compared with its digits replaced, is a running header/footer. If its digits change
      between pages it must also read like one: the number at one end of the line, and 3+ words,
      "page" or a separator (| — · •); "Exercise 3" at the top of three pages is content. Such a
      numbered line is also a running header when its number follows the page index on at least
      two pages (a chapter's header: "Chapter 2: Parsing 3" on page 6, "... 4" on page 7).
    - "Page 12", "Page 12 of 40", "12 / 40" at an edge are page numbers.
    - "12", "- 12 -", "xii" at an edge are page numbers when the page sequence agrees: at least two
      pages carry a number at the same offset from their page index (or the PDF has one page).
    Lines are removed from each edge inwards only, at most `_EDGE_LINES` per edge.
    """
    # key (digits replaced) -> (pages it is on, its texts, offsets of its end number from the page
    # index); for the top and the bottom edge
    zones: tuple[dict[str, tuple[set[int], set[str], list[int]]], ...] = ({}, {})
    offsets: dict[tuple[str, int], int] = {}
    edges: list[list[tuple[int, str]]] = []
    for number, lines in pages:
        content = [(i, _line_text(line)) for i, line in enumerate(lines) if line.strip()]
        edges.append(content)
        for zone, seen in zip((content[:_EDGE_LINES], content[-_EDGE_LINES:]), zones, strict=True):
            for _, text in zone:
                on_pages, texts, shifts = seen.setdefault(_line_key(text), (set(), set(), []))
                on_pages.add(number)
                texts.add(text)
                end_number = _END_NUMBER.search(text)
                if end_number is not None:
                    shifts.append(int(end_number.group(1) or end_number.group(2)) - number)
        for _, text in {*content[:_EDGE_LINES], *content[-_EDGE_LINES:]}:
            value = _page_number_value(text)
            if value is not None:
                offset = (value[0], value[1] - number)
                offsets[offset] = offsets.get(offset, 0) + 1

    need = max(3, len(pages) // 2)
    running_top, running_bottom = (
        frozenset(
            key
            for key, (on_pages, texts, shifts) in seen.items()
            if any(ch.isalpha() for ch in key)
            and (
                (len(on_pages) >= need and (len(texts) == 1 or _numbered_running_line(key)))
                # a chapter's running header: its number follows the pages ("Chapter 2: Parsing 3", 4, ...)
                or (_numbered_running_line(key) and max(Counter(shifts).values(), default=0) >= 2)
            )
        )
        for seen in zones
    )
    single = len(pages) == 1

    def furniture(text: str, number: int, running: frozenset[str]) -> bool:
        if _line_key(text) in running or _PAGE_LABEL.match(text):
            return True
        value = _page_number_value(text)
        if value is None:
            return False
        kind, n = value
        return offsets.get((kind, n - number), 0) >= 2 or (single and n == number)

    result: list[tuple[int, list[str]]] = []
    for (number, lines), content in zip(pages, edges, strict=True):
        start, end = 0, len(content)
        while start < min(end, _EDGE_LINES) and furniture(content[start][1], number, running_top):
            start += 1
        while end > start and len(content) - end < _EDGE_LINES and furniture(content[end - 1][1], number,
                                                                             running_bottom):
            end -= 1
        if start < end:
            result.append((number, lines[content[start][0] : content[end - 1][0] + 1]))
    return result


_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")


def _dehyphenate(text: str) -> str:
    """Join words broken across lines by a hyphen ("infor-\\nmation")."""
    return _HYPHEN_BREAK.sub(r"\1\2", text)
