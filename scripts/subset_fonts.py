"""Build the Latin subsets of the certificate's main font (DejaVu Sans, regular and bold).

    .venv/bin/python scripts/subset_fonts.py

Writes `shared/smartcourse/certificates/fonts/DejaVuSans-Latin.ttf` and `DejaVuSans-Bold-Latin.ttf`:
the glyphs of the Unicode ranges below, plus every glyph the fonts' layout features reach from
them (ligatures, stacked Vietnamese marks), with all OpenType layout features, hinting and names
kept, so HarfBuzz shapes a Latin name exactly as with the full font. A certificate whose printed
text needs nothing else from DejaVu Sans embeds from these (about 1,450 glyphs instead of 6,200):
fpdf2 subsets the embedded font once more per document, and that step costs in proportion to
the font's size (docs/certificates.md). Deterministic: the same fontTools gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

FONTS = Path(__file__).resolve().parent.parent / "shared" / "smartcourse" / "certificates" / "fonts"

#: What the Latin subsets hold (first, last code point). The renderer needs no copy of this: it
#: compares the subsets' own cmaps with the full fonts' (`PdfRenderer.main_fonts`).
RANGES = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1 Supplement, Latin Extended-A and -B
    (0x0250, 0x02FF),  # IPA Extensions, Spacing Modifier Letters (okina U+02BB, U+02BC)
    (0x0300, 0x036F),  # Combining Diacritical Marks (names typed decomposed)
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x206F),  # General Punctuation (dashes, quotes)
    (0x20A0, 0x20BF),  # Currency Symbols
    (0x2100, 0x214F),  # Letterlike Symbols
    (0xFB00, 0xFB06),  # Latin ligatures
)


def build(source: Path, target: Path) -> int:
    font = TTFont(str(source), recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.name_legacy = True
    options.notdef_outline = True
    options.glyph_names = True
    options.hinting = True
    options.legacy_kern = True
    options.recalc_timestamp = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[cp for first, last in RANGES for cp in range(first, last + 1)])
    subsetter.subset(font)
    font.save(str(target))
    return len(font.getGlyphOrder())


def main() -> None:
    for name in ("DejaVuSans", "DejaVuSans-Bold"):
        glyphs = build(FONTS / f"{name}.ttf", FONTS / f"{name}-Latin.ttf")
        print(f"{name}-Latin.ttf: {glyphs} glyphs, {(FONTS / f'{name}-Latin.ttf').stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
