"""The PDF read back: the printed facts are in its text, and the QR code decodes to the verify URL."""

from __future__ import annotations

import io
import unicodedata
import uuid
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from smartcourse.certificates.domain import (
    CompletionFacts,
    NotCompleted,
    RenderError,
    Snapshot,
    code_for_issuance,
    snapshot_for,
    verify_url,
)
from smartcourse.certificates.render import PdfRenderer, missing_glyphs, qr_png

zxingcpp = pytest.importorskip("zxingcpp")  # requirements/dev.txt pins it; skip loudly elsewhere


def snapshot(name: str = "Zoë Ångström", title: str = "Databases with PostgreSQL",
             instructor: str = "Dr. Ada Lovelace") -> Snapshot:
    code = code_for_issuance(uuid.uuid4())
    return Snapshot(learner_name=name, course_title=title, instructor_name=instructor,
                    completed_on=date(2026, 11, 26), course_version=3, code=code,
                    verify_url=verify_url("https://smartcourse.example.com", code))


def read_back(pdf: bytes) -> tuple[str, list[str]]:
    """The page's text (control characters that ligature glyphs leave in extraction removed) and
    the payloads of the QR codes in its images."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    qr_payloads = [b.text for img in page.images for b in zxingcpp.read_barcodes(img.image)]
    text = "".join(ch for ch in page.extract_text() if ch == "\n" or unicodedata.category(ch) != "Cc")
    return text, qr_payloads


@pytest.fixture(scope="module")
def renderer() -> PdfRenderer:
    return PdfRenderer()


def test_the_pdf_shows_name_title_instructor_date_and_code_and_its_qr_is_the_verify_url(
        renderer: PdfRenderer) -> None:
    s = snapshot()
    text, qr = read_back(renderer.render(s))
    for printed in (s.learner_name, s.course_title, s.instructor_name, "2026-11-26", s.code):
        assert printed in text
    assert qr == [s.verify_url]


@pytest.mark.parametrize("name", [
    "王小明",                      # Chinese (fallback font)
    "김민수",                      # Korean
    "さくら 佐藤",                  # Japanese
    "Ελένη Παπαδοπούλου",          # Greek
    "Сергей Иванов",               # Cyrillic
    "فاطمة الزهراء",                # Arabic, right to left (shaped)
    "מרים כהן",                    # Hebrew
    "Nguyễn Thị Minh Khai",        # Vietnamese: stacked diacritics
    "अनन्या शर्मा",                 # Devanagari: conjuncts (Noto Sans Devanagari, shaped)
    "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ",                # Gurmukhi
    "ஸ்ரீனிவாசன்",                  # Tamil
    "สมชาย ใจดี",                  # Thai
])
def test_names_in_any_script_the_fonts_cover_come_back_out_of_the_pdf(renderer: PdfRenderer, name: str) -> None:
    s = snapshot(name=name, title="Intro to Ελληνικά — Основы")
    text, qr = read_back(renderer.render(s))
    assert name in text and s.course_title in text and s.code in text
    assert qr == [s.verify_url]


def test_a_long_title_and_name_still_fit_and_read_back(renderer: PdfRenderer) -> None:
    s = snapshot(name="Maximiliana " * 16, title="A very long course title " * 8)
    s = Snapshot(**{**s.__dict__, "learner_name": " ".join(s.learner_name.split()),
                    "course_title": " ".join(s.course_title.split())})
    text, _ = read_back(renderer.render(s))
    assert s.code in text
    assert "Maximiliana" in text and "very long course title" in text
    assert len(PdfReader(io.BytesIO(renderer.render(s))).pages) == 1


def test_fallback_fonts_are_loaded_only_when_a_printed_string_needs_them(renderer: PdfRenderer) -> None:
    assert renderer.fallbacks_for(snapshot()) == []
    assert renderer.fallbacks_for(snapshot(name="王小明 अनन्या")) == ["DroidSansFallback.ttf",
                                                                   "NotoSansDevanagari-Regular.ttf"]
    assert renderer.fallbacks_for(snapshot(instructor="สมชาย")) == ["NotoSansThai-Regular.ttf"]


def test_a_character_no_font_can_draw_is_a_render_error_naming_it(renderer: PdfRenderer) -> None:
    with pytest.raises(RenderError, match=r"learner_name: U\+10000 LINEAR B SYLLABLE B008 A"):
        renderer.render(snapshot(name="Bob \U00010000"))
    assert missing_glyphs("abc 王", [renderer.fonts_dir / "DejaVuSans.ttf"]) == ["U+738B CJK UNIFIED IDEOGRAPH-738B"]


def test_the_qr_png_alone_decodes_to_its_payload() -> None:
    from PIL import Image

    url = "https://smartcourse.example.com/certificates/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(url))))
    assert [d.text for d in decoded] == [url]


def test_the_snapshot_keeps_what_is_printed_and_needs_a_completion_date() -> None:
    facts = CompletionFacts(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 2, "  Zoë \n Ångström ", "SQL  101",
                            "Ada", datetime(2026, 11, 26, 23, 30, tzinfo=UTC))
    s = snapshot_for(facts, "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "https://x.example/")
    assert (s.learner_name, s.course_title, s.completed_on) == ("Zoë Ångström", "SQL 101", date(2026, 11, 26))
    assert s.verify_url == "https://x.example/certificates/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    assert Snapshot.from_json(s.as_json()) == s
    with pytest.raises(NotCompleted):
        snapshot_for(CompletionFacts(**{**facts.__dict__, "completed_at": None}), s.code, "https://x.example")


def test_latin_text_embeds_the_latin_subsets_and_other_scripts_the_full_faces(renderer: PdfRenderer) -> None:
    latin = ("DejaVuSans-Latin.ttf", "DejaVuSans-Bold-Latin.ttf")
    full = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
    assert renderer.main_fonts(snapshot(name="Nguyễn Thị Minh Khai", title="Ça — “naïve” ﬁles")) == latin
    assert renderer.main_fonts(snapshot(name="王小明")) == latin  # DejaVu draws none of it either way
    assert renderer.main_fonts(snapshot(name="Ελένη")) == full
    assert renderer.main_fonts(snapshot(instructor="Сергей")) == full


def test_the_latin_subsets_are_what_the_script_builds_from_the_full_faces(renderer: PdfRenderer) -> None:
    import importlib.util
    from pathlib import Path

    from smartcourse.certificates.render import _cmap

    path = Path(__file__).resolve().parents[3] / "scripts" / "subset_fonts.py"
    spec = importlib.util.spec_from_file_location("subset_fonts", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    wanted = {cp for first, last in script.RANGES for cp in range(first, last + 1)}
    for face in ("DejaVuSans", "DejaVuSans-Bold"):
        full, sub = _cmap(renderer.fonts_dir / f"{face}.ttf"), _cmap(renderer.fonts_dir / f"{face}-Latin.ttf")
        assert sub == full & wanted, face  # rebuild with scripts/subset_fonts.py after changing RANGES


def test_fonts_are_parsed_once_per_process_and_documents_share_no_state(renderer: PdfRenderer) -> None:
    from smartcourse.certificates.render import _prototype

    s = snapshot(name="王小明 Zoë")
    first = renderer.render(s)
    renderer.render(snapshot(name="さくら 佐藤 Ærøskøbing"))  # other glyphs in between
    parsed = _prototype.cache_info().misses
    assert renderer.render(s) == first  # the same facts give the same bytes
    assert _prototype.cache_info().misses == parsed
    text, qr = read_back(first)
    assert "王小明 Zoë" in text and qr == [s.verify_url]
