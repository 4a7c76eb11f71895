"""The PDF renderer adapter: fpdf2 draws the certificate, segno draws the QR code.

Fonts are vendored TTFs (see fonts/README.md): DejaVu Sans for Latin, Greek, Cyrillic, Hebrew,
Arabic and more; fallbacks, loaded only when a printed string needs them: Droid Sans Fallback for
Chinese, Japanese and Korean, and Noto Sans for the Indic scripts, Thai, Lao, Khmer, Myanmar,
Sinhala and Ethiopic. HarfBuzz (uharfbuzz) shapes the text, so right-to-left names, conjuncts and
combining marks come out as written. A character that none of the fonts can draw raises
`RenderError` before anything is drawn: the record is parked on the dead-letter topic with that
reason rather than printing a blank or a box in someone's name.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartcourse.certificates.domain import RenderError, Snapshot

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
_REGULAR = "DejaVuSans.ttf"
_BOLD = "DejaVuSans-Bold.ttf"
#: Their Latin subsets (scripts/subset_fonts.py), embedded instead when they draw every printed
#: character the full faces would: fpdf2's per-document subsetting costs in proportion to the font.
_LATIN = {_REGULAR: "DejaVuSans-Latin.ttf", _BOLD: "DejaVuSans-Bold-Latin.ttf"}
# Tried in this order for a character the main font lacks.
FALLBACKS = ("DroidSansFallback.ttf", *(f"NotoSans{script}-Regular.ttf" for script in (
    "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam",
    "Sinhala", "Thai", "Lao", "Khmer", "Myanmar", "Ethiopic")))

# Characters that are never drawn as glyphs (format controls such as ZWJ, bidi marks).
_IGNORED_CATEGORIES = {"Cf", "Cc", "Zl", "Zp"}


@functools.cache
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(path), lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def missing_glyphs(text: str, fonts: Iterable[Path]) -> list[str]:
    """The characters of `text` that none of `fonts` can draw, as `U+XXXX NAME`."""
    covered = [_cmap(p) for p in fonts]
    missing: list[str] = []
    for ch in dict.fromkeys(text):
        if ch.isspace() or unicodedata.category(ch) in _IGNORED_CATEGORIES:
            continue
        cp = ord(ch)
        if not any(cp in c for c in covered):
            missing.append(f"U+{cp:04X} {unicodedata.name(ch, 'UNNAMED')}")
    return missing


@functools.cache
def _prototype(path: Path, style: str) -> tuple[Any, tuple[str, ...]]:
    """The font file parsed by fpdf2 once per process (DejaVu Sans about 70 ms, Droid Sans Fallback
    about 240 ms on one core), and its glyph order."""
    from fpdf import FPDF

    holder: Any = FPDF()
    holder.add_font("proto", style, str(path))
    font = holder.fonts[f"proto{style}"]
    return font, tuple(font.ttfont.getGlyphOrder())


def _add_font(pdf: Any, family: str, style: str, path: Path) -> str:
    """`pdf.add_font(family, style, path)` without parsing the file again; returns the font key.
    A copy of the process's parsed font that shares what fpdf2's own `TTFFont.__deepcopy__`
    treats as immutable (the parsed tables, cmap, widths, HarfBuzz face) and has this document's
    own index, key and subset map. `_fresh_for_output` gives it the font it may subset in place."""
    import copy

    from fpdf.fonts import SubsetMap

    proto, _ = _prototype(path, style)
    font = copy.copy(proto)
    font.i = len(pdf.fonts) + 1
    font.fontkey = f"{family.lower()}{style}"  # as FPDF.add_font and set_font spell it
    font.biggest_size_pt = 0
    font.missing_glyphs = []
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font
    return str(font.fontkey)


def _fresh_for_output(pdf: Any, paths: dict[str, tuple[Path, str]]) -> None:
    """fpdf2's output subsets each font's fontTools object in place: give every font of this
    document a freshly opened one (lazy; glyph order set from the parse, so a font without glyph
    names, Droid Sans Fallback, does not rebuild 50k names from its cmap)."""
    from fontTools.ttLib import TTFont, newTable

    for key, (path, style) in paths.items():
        proto, order = _prototype(path, style)
        fresh = TTFont(str(path), recalcTimestamp=False, lazy=True)
        fresh.setGlyphOrder(list(order))
        for tag in _DROPPED_AT_OUTPUT:  # fpdf2's subsetting drops them: not even read here
            if tag in fresh:
                del fresh[tag]
        # fpdf2's subsetting keeps no glyph names (post format 3): start from one, so the font's
        # 6k names are not decoded only to be dropped
        post = newTable("post")
        old = proto.ttfont["post"]
        post.formatType = 3.0
        for field in ("italicAngle", "underlinePosition", "underlineThickness", "isFixedPitch",
                      "minMemType42", "maxMemType42", "minMemType1", "maxMemType1"):
            setattr(post, field, getattr(old, field))
        fresh["post"] = post
        pdf.fonts[key].ttfont = fresh


#: The tables fpdf2 2.8's output drops from an embedded font (`output.py`, `_add_fonts`).
_DROPPED_AT_OUTPUT = ("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT",
                      "EBLC", "EBSC", "SVG ", "CPAL", "COLR")


def qr_png(payload: str) -> bytes:
    """The QR code of `payload` as a PNG (error correction M, 4-module quiet zone)."""
    import segno

    buf = io.BytesIO()
    segno.make_qr(payload, error="m", boost_error=False).save(buf, kind="png", scale=10, border=4)
    return buf.getvalue()


class PdfRenderer:
    """Renders a `Snapshot` to PDF bytes. Stateless apart from cached font coverage."""

    def __init__(self, fonts_dir: Path = FONTS_DIR) -> None:
        self.fonts_dir = fonts_dir

    def _fonts(self, bold: bool) -> list[Path]:
        return [self.fonts_dir / (_BOLD if bold else _REGULAR), *(self.fonts_dir / f for f in FALLBACKS)]

    def main_fonts(self, s: Snapshot) -> tuple[str, str]:
        """The regular and bold faces' files for this certificate: the Latin subsets unless a
        printed character is one the full faces have and the subsets lack (Greek, Cyrillic,
        Arabic, ...: characters neither has go to the fallbacks either way)."""
        faces = (_REGULAR, _BOLD)
        if not all((self.fonts_dir / _LATIN[f]).exists() for f in faces):
            return faces
        printed = set(s.learner_name + s.course_title + s.instructor_name + s.code + s.verify_url)
        for face in faces:
            lost = (_cmap(self.fonts_dir / face) - _cmap(self.fonts_dir / _LATIN[face])) & {ord(c) for c in printed}
            if lost:
                return faces
        return _LATIN[_REGULAR], _LATIN[_BOLD]

    def fallbacks_for(self, s: Snapshot) -> list[str]:
        """The fallback fonts this certificate needs, in preference order (each costs a parse)."""
        needed: set[str] = set()
        for text, main in ((s.learner_name + s.course_title, _BOLD),
                           (s.learner_name + s.course_title + s.instructor_name, _REGULAR)):
            for ch in dict.fromkeys(text):
                cp = ord(ch)
                if ch.isspace() or cp in _cmap(self.fonts_dir / main):
                    continue
                for name in FALLBACKS:
                    if cp in _cmap(self.fonts_dir / name):
                        needed.add(name)
                        break
        return [name for name in FALLBACKS if name in needed]

    def check(self, snapshot: Snapshot) -> None:
        """Raise `RenderError` naming every character no bundled font can draw."""
        problems = []
        for field, text, bold in (("learner_name", snapshot.learner_name, True),
                                  ("course_title", snapshot.course_title, True),
                                  ("instructor_name", snapshot.instructor_name, False)):
            missing = missing_glyphs(text, self._fonts(bold))
            if missing:
                problems.append(f"{field}: {', '.join(missing[:10])}")
        if problems:
            raise RenderError("no bundled font can draw " + "; ".join(problems))

    def render(self, snapshot: Snapshot) -> bytes:
        self.check(snapshot)
        try:
            return self._draw(snapshot)
        except RenderError:
            raise
        except Exception as exc:  # fpdf2/HarfBuzz failures are deterministic for these inputs
            raise RenderError(f"the PDF could not be drawn: {type(exc).__name__}: {exc}"[:500]) from exc

    def _draw(self, s: Snapshot) -> bytes:
        from fpdf import FPDF
        from fpdf.enums import Align, XPos, YPos

        pdf: Any = FPDF(orientation="L", unit="mm", format="A4")
        pdf.set_title(f"Certificate {s.code}")
        pdf.set_author("SmartCourse")
        pdf.set_creator("SmartCourse certificates")
        pdf.set_creation_date(_midnight_utc(s))  # the same facts give the same bytes
        fallbacks = self.fallbacks_for(s)
        regular, bold = self.main_fonts(s)
        fonts = {_add_font(pdf, family, style, path): (path, style) for family, style, path in (
            ("Sans", "", self.fonts_dir / regular), ("Sans", "B", self.fonts_dir / bold),
            *((f"Fallback{i}", "", self.fonts_dir / name) for i, name in enumerate(fallbacks)))}
        if fallbacks:
            pdf.set_fallback_fonts([f"Fallback{i}" for i in range(len(fallbacks))], exact_match=False)
        pdf.set_text_shaping(True)
        pdf.set_auto_page_break(False)
        pdf.set_margins(20, 18, 20)
        pdf.add_page()

        # Frame
        pdf.set_draw_color(32, 64, 128)
        pdf.set_line_width(1.2)
        pdf.rect(8, 8, 281, 194)
        pdf.set_line_width(0.3)
        pdf.rect(11, 11, 275, 188)

        width = 257
        pdf.set_y(26)
        pdf.set_text_color(32, 64, 128)
        pdf.set_font("Sans", "B", 30)
        pdf.cell(width, 14, "Certificate of Completion", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(6)
        pdf.set_text_color(40, 40, 40)
        pdf.set_font("Sans", "", 14)
        pdf.cell(width, 8, "This certifies that", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
        pdf.set_font("Sans", "B", _fit_size(len(s.learner_name), 28, 40, 16))
        pdf.multi_cell(width, 13, s.learner_name, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
        pdf.set_font("Sans", "", 14)
        pdf.cell(width, 8, "has completed the course", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
        pdf.set_font("Sans", "B", _fit_size(len(s.course_title), 22, 50, 13))
        pdf.multi_cell(width, 10, s.course_title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)
        pdf.set_font("Sans", "", 13)
        pdf.multi_cell(width, 7, f"Instructor: {s.instructor_name}", align=Align.C,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.cell(width, 7, f"Completed on {s.completed_on.isoformat()}", align=Align.C,
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)

        # Verification block (bottom left) and QR code (bottom right)
        pdf.set_xy(20, 164)
        pdf.set_font("Sans", "", 10)
        pdf.cell(0, 6, "Verification code", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Sans", "B", 14)
        pdf.cell(0, 7, s.code, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Sans", "", 9)
        pdf.cell(0, 6, f"Verify at {s.verify_url}", link=s.verify_url, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Sans", "", 8)
        pdf.cell(0, 5, f"Course version {s.course_version}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.image(io.BytesIO(qr_png(s.verify_url)), x=236, y=150, w=42, h=42, link=s.verify_url)
        _fresh_for_output(pdf, fonts)
        return bytes(pdf.output())


def _fit_size(length: int, size: float, comfortable: int, minimum: float) -> float:
    """Shrink a long line's font size, never below `minimum` (multi_cell wraps what remains)."""
    if length <= comfortable:
        return size
    return max(minimum, size * comfortable / length)


def _midnight_utc(s: Snapshot) -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(s.completed_on, time(0, 0), tzinfo=UTC)
