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
        pdf.add_font("Sans", "", str(self.fonts_dir / _REGULAR))
        pdf.add_font("Sans", "B", str(self.fonts_dir / _BOLD))
        fallbacks = self.fallbacks_for(s)
        for i, name in enumerate(fallbacks):
            pdf.add_font(f"Fallback{i}", "", str(self.fonts_dir / name))
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
        return bytes(pdf.output())


def _fit_size(length: int, size: float, comfortable: int, minimum: float) -> float:
    """Shrink a long line's font size, never below `minimum` (multi_cell wraps what remains)."""
    if length <= comfortable:
        return size
    return max(minimum, size * comfortable / length)


def _midnight_utc(s: Snapshot) -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(s.completed_on, time(0, 0), tzinfo=UTC)
