"""Font loading, text measurement and glyph coverage (the only font I/O).

All font access goes through :func:`load_font`, so a bundled brand TTF can be
swapped in later without touching layout or drawing code.  The default is
Pillow's own scalable font (``ImageFont.load_default(size=...)``, a FreeType
font since Pillow 10.1).  That font only covers ASCII, so
:func:`renderable_text` maps what it can (``é`` -> ``e``, ``—`` -> ``-``) and
drops glyphs the font lacks (emoji, CJK) instead of drawing "tofu" boxes.

There is no bold cut of the default font: headlines are emboldened with a
stroke in the text colour, and :func:`make_measurer` accounts for it.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

Measure = Callable[[str, int], tuple[int, int]]
"""``(text, font_size) -> (width, height)`` of one line of text, in pixels."""

Font = ImageFont.FreeTypeFont

_FONT_EXTENSIONS = (".ttf", ".otf", ".ttc")
# A code point that no font maps; its rendering is the font's ".notdef" glyph.
_NOTDEF_PROBE = "\U0010fffd"
# Reference glyphs for the vertical extent of a line: tall capitals, accented
# capitals (if present), ascenders and descenders.
_VERTICAL_REFERENCE = "HÁÉdlfkbgjpqy|"
_PUNCTUATION_FALLBACKS: dict[str, str] = {
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022\u00b7", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    "\u2026": "...",
    "\u00d7": "x",
}

# Coverage verdicts per (font identity, character); pure data, safe to share.
_coverage_cache: dict[tuple[str, str], bool] = {}


def load_font(size: int, family: str | None = None) -> Font:
    """Load the font used for still text at ``size`` pixels.

    ``family`` may be a path to a ``.ttf``/``.otf``/``.ttc`` file; any other
    value (a brand family name that is not bundled, or ``None``) falls back to
    Pillow's bundled scalable font.  Deliberately never searches system fonts,
    so renders are identical on every machine.
    """
    if size <= 0:
        raise ValueError(f"font size must be positive, got {size}")
    if family and family.lower().endswith(_FONT_EXTENSIONS) and os.path.isfile(family):
        return ImageFont.truetype(family, size=size)
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # pragma: no cover - Pillow without FreeType
        raise RuntimeError("Pillow was built without FreeType; a scalable font is required")
    return font


def stroke_width_for(size: int) -> int:
    """Stroke used to embolden text of ``size`` px (the default font has no bold cut)."""
    return max(1, round(size / 30))


@dataclass(frozen=True, slots=True)
class LineMetrics:
    """How a line of text sits in its layout box.

    Draw with ``anchor="la"`` at ``(box.left + dx, box.top + dy)``; the ink then
    spans ``width x height`` from the box's top-left corner.
    """

    width: int
    height: int
    dx: int
    dy: int


def line_metrics(font: Font, text: str, stroke: int) -> LineMetrics:
    """Measure ``text`` drawn with ``font`` and a ``stroke`` px outline.

    The height is the same for every line at a given size (from reference
    glyphs, not from ``text``), so stacked lines share one baseline grid.
    """
    _, ref_t, _, ref_b = font.getbbox(_VERTICAL_REFERENCE, anchor="la")
    ascent, descent = font.getmetrics()
    top = min(ref_t, ascent) - stroke
    bottom = max(ref_b, ascent + descent) + stroke
    if text:
        left, _, right, _ = font.getbbox(text, anchor="la", stroke_width=stroke)
    else:
        left = right = 0
    left = min(left, 0)
    return LineMetrics(width=int(right - left), height=int(bottom - top), dx=-int(left), dy=-int(top))


def make_measurer(family: str | None = None, *, bold: bool = True) -> Measure:
    """A :data:`Measure` for :func:`~still_frame.render.layout.compute_layout`.

    Fonts are cached per size inside the returned closure only (FreeType faces
    are not shared between callers/threads).
    """
    fonts: dict[int, Font] = {}

    def measure(text: str, size: int) -> tuple[int, int]:
        font = fonts.get(size)
        if font is None:
            font = fonts[size] = load_font(size, family)
        metrics = line_metrics(font, text, stroke_width_for(size) if bold else 0)
        return (metrics.width, metrics.height)

    return measure


def draw_line(
    draw: ImageDraw.ImageDraw,
    origin: tuple[int, int],
    text: str,
    font: Font,
    fill: tuple[int, int, int],
    *,
    bold: bool = True,
) -> None:
    """Draw one line whose layout box has its top-left corner at ``origin``."""
    stroke = stroke_width_for(round(font.size)) if bold else 0
    metrics = line_metrics(font, text, stroke)
    x, y = origin
    draw.text(
        (x + metrics.dx, y + metrics.dy),
        text,
        font=font,
        fill=fill,
        anchor="la",
        stroke_width=stroke,
        stroke_fill=fill,
    )


def _font_key(font: Font) -> str:
    path = font.path if isinstance(font.path, str) else "<bundled>"
    family, style = font.getname()
    return f"{path}|{family}|{style}|{font.index}"


def has_glyph(font: Font, char: str) -> bool:
    """True when ``font`` renders ``char`` with a real glyph (not ``.notdef``)."""
    key = (_font_key(font), char)
    cached = _coverage_cache.get(key)
    if cached is not None:
        return cached
    missing = font.getmask(_NOTDEF_PROBE)
    glyph = font.getmask(char)
    covered = not (glyph.size == missing.size and bytes(glyph) == bytes(missing))
    _coverage_cache[key] = covered
    return covered


def _fallback_for(font: Font, char: str) -> str:
    """Replacement for a character the font lacks: a base letter, ASCII punctuation or ''."""
    mapped = _PUNCTUATION_FALLBACKS.get(char)
    if mapped is not None and all(has_glyph(font, c) for c in mapped):
        return mapped
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base and base != char and all(has_glyph(font, c) for c in base):
        return base
    return ""


def renderable_text(text: str, font: Font) -> str:
    """``text`` reduced to what ``font`` can draw, with whitespace collapsed.

    Unsupported characters are replaced by a close equivalent when one exists
    (accents stripped, typographic punctuation to ASCII) and dropped
    otherwise (emoji, CJK with the default font).  If nothing drawable
    remains, the collapsed original is returned so the caller still gets
    *something* (the font's fallback glyphs) rather than an empty headline.
    """
    normalized = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for char in normalized:
        if char.isspace():
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"):
            continue  # control characters, surrogates, private use, unassigned
        elif has_glyph(font, char):
            out.append(char)
        elif unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue  # marks, joiners, variation selectors the font cannot draw
        else:
            out.append(_fallback_for(font, char))
    cleaned = " ".join("".join(out).split())
    if cleaned:
        return cleaned
    return " ".join(normalized.split())
