"""Fonts: the bundled families, per-character fallback, measurement and drawing (the only font I/O).

Text is set in **Noto Sans Bold** (``fontpkg-noto-sans``, SIL OFL 1.1: Latin, Greek, Cyrillic,
Vietnamese), a variable font instanced at weight 700.  Characters it lacks fall back, per
character run, to **Noto Sans CJK Bold** (``cvttf-NotoSansCJK-Bold``, SIL OFL 1.1: Han, kana,
Hangul), loaded only when a line needs it.  Both come from pip-installed wheels, so renders are
identical on every machine; system fonts are never searched.

A brand's ``font_family`` is honoured when a pip-installed ``fontpkg`` family of that name exists
(e.g. ``"Noto Sans"``, or ``"Roboto"`` after ``pip install fontpkg-roboto``); otherwise the default
is used.  Never a file path: brand data must not name files on the server.

What no bundled font can draw (emoji, unsupported scripts) is substituted by a close equivalent
(typographic punctuation to ASCII, a decomposed base letter) or dropped, with a space kept where
dropping would glue two words together, so there is never a ".notdef" box mid-word.
"""

from __future__ import annotations

import functools
import math
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

Measure = Callable[[str, int], tuple[int, int]]
"""``(text, font_size) -> (width, height)`` of one line of text, in pixels."""

Font = ImageFont.FreeTypeFont

DEFAULT_FAMILY = "Noto Sans"
HEADLINE_WEIGHT = 700
# A code point that no font maps; its rendering is the font's ".notdef" glyph.
_NOTDEF_PROBE = "\U0010fffd"
# Reference glyphs for the vertical extent of a line: tall and accented capitals, ascenders,
# descenders; CJK fonts add ideographs and kana (taller/deeper than Latin).
_LATIN_REFERENCE = "HÁÉÖdlfkbgjpqy|"
_CJK_REFERENCE = "国永あ漢"
_PUNCTUATION_FALLBACKS: dict[str, str] = {
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022\u00b7", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    "\u2026": "...",
    "\u00d7": "x",
}
_DROP_CATEGORIES = ("Cc", "Cs", "Co", "Cn")  # controls, surrogates, private use, unassigned
_INVISIBLE_CATEGORIES = ("Mn", "Me", "Cf")  # marks, joiners, variation selectors

# Coverage verdicts per (font identity, character); pure data, safe to share.
_coverage_cache: dict[tuple[str, str], bool] = {}
_per_thread = threading.local()
_MAX_LIBRARIES_PER_THREAD = 8


class FontUnavailable(RuntimeError):
    """The bundled font wheels are not installed (a deployment error, not a content error)."""


@functools.cache
def _family_path(name: str) -> str | None:
    """Path of an installed ``fontpkg`` family's upright file covering weight 700, or ``None``."""
    import fontpkg  # deferred: scanning entry points costs a few ms, once

    try:
        return str(fontpkg.path(name, weight=HEADLINE_WEIGHT, nearest=True))
    except fontpkg.FontpkgError:
        return None


@functools.cache
def _fallback_paths() -> tuple[str, ...]:
    try:
        import cvttf_NotoSansCJK_Bold as cjk
    except ImportError:  # optional: without it CJK text is dropped like emoji
        return ()
    return (str(cjk.get_TTF_path()),)


def primary_path(family: str | None) -> str:
    """The font file used for ``family`` (the brand's if installed, else Noto Sans)."""
    path = _family_path(family.strip()) if family and family.strip() else None
    path = path or _family_path(DEFAULT_FAMILY)
    if path is None:
        raise FontUnavailable("bundled font missing: pip install fontpkg-noto-sans")
    return path


def _open(path: str, size: int) -> tuple[Font, int]:
    """Open ``path`` at ``size`` px as bold; returns the font and the synthetic-bold stroke (0 if real bold)."""
    font = ImageFont.truetype(path, size=size)
    try:
        axes = font.get_variation_axes()
    except OSError:  # not a variable font
        axes = []
    if axes and b"Bold" in font.get_variation_names():
        font.set_variation_by_name("Bold")
        return font, 0
    if axes:
        values = [float(axis["default"] or 0) for axis in axes]
        for i, axis in enumerate(axes):
            if axis["name"] in (b"Weight", "Weight"):
                low, high = float(axis["minimum"] or 0), float(axis["maximum"] or 0)
                values[i] = min(max(float(HEADLINE_WEIGHT), low), high)
        font.set_variation_by_axes(values)
        return font, 0
    style = (font.getname()[1] or "").lower()
    return font, 0 if ("bold" in style or "black" in style) else max(1, round(size / 30))


def load_font(size: int, family: str | None = None) -> Font:
    """The primary (bold) font for still text at ``size`` pixels."""
    if size <= 0:
        raise ValueError(f"font size must be positive, got {size}")
    return _open(primary_path(family), size)[0]


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


@dataclass(frozen=True, slots=True)
class LineMetrics:
    """How a line of text sits in its layout box.

    Draw runs on the baseline ``box.top + dy`` starting at ``box.left + dx``; the ink then spans
    ``width x height`` from the box's top-left corner.
    """

    width: int
    height: int
    dx: int
    dy: int


class FontSet:
    """The primary font and its fallbacks at one pixel size (fallbacks opened on first need)."""

    def __init__(self, size: int, family: str | None = None) -> None:
        if size <= 0:
            raise ValueError(f"font size must be positive, got {size}")
        self.size = size
        self.primary, primary_stroke = _open(primary_path(family), size)
        self._strokes: dict[int, int] = {id(self.primary): primary_stroke}
        self._fallbacks: list[Font] | None = None
        self._vertical: dict[int, tuple[int, int]] = {}

    @property
    def fallbacks(self) -> list[Font]:
        if self._fallbacks is None:
            self._fallbacks = []
            for path in _fallback_paths():
                font, stroke = _open(path, self.size)
                self._strokes[id(font)] = stroke
                self._fallbacks.append(font)
        return self._fallbacks

    def stroke(self, font: Font) -> int:
        return self._strokes[id(font)]

    def font_for(self, char: str) -> Font | None:
        """The first font with a glyph for ``char`` (``None``: nothing can draw it)."""
        if has_glyph(self.primary, char):
            return self.primary
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return self.primary  # zero-width marks stay with their base character
        for font in self.fallbacks:
            if has_glyph(font, char):
                return font
        return None

    def covers(self, char: str) -> bool:
        return char.isspace() or (
            unicodedata.category(char) not in _INVISIBLE_CATEGORIES and self.font_for(char) is not None
        )

    def runs(self, text: str) -> list[tuple[str, Font]]:
        """``text`` split into maximal runs drawn with one font; spaces join the current run."""
        runs: list[tuple[str, Font]] = []
        for char in text:
            font = (runs[-1][1] if runs else self.primary) if char.isspace() else self.font_for(char) or self.primary
            if runs and runs[-1][1] is font:
                runs[-1] = (runs[-1][0] + char, font)
            else:
                runs.append((char, font))
        return runs

    def _vertical_extent(self, font: Font) -> tuple[int, int]:
        """(top, bottom) of the reference glyphs relative to the baseline, stroke included."""
        cached = self._vertical.get(id(font))
        if cached is None:
            reference = _LATIN_REFERENCE if font is self.primary else _LATIN_REFERENCE + _CJK_REFERENCE
            stroke = self.stroke(font)
            _, top, _, bottom = font.getbbox(reference, anchor="ls", stroke_width=stroke)
            cached = self._vertical[id(font)] = (math.floor(top), math.ceil(bottom))
        return cached

    def metrics(self, text: str) -> LineMetrics:
        """Measure one line.  The height depends only on the fonts used (a Latin line at a given
        size is always as tall as any other), so stacked lines share one baseline grid."""
        runs = self.runs(text)
        fonts = {id(self.primary): self.primary, **{id(f): f for _, f in runs}}
        extents = [self._vertical_extent(f) for f in fonts.values()]
        top, bottom = min(t for t, _ in extents), max(b for _, b in extents)
        x = 0.0
        left = right = 0.0
        for index, (run, font) in enumerate(runs):
            l_, _, r_, _ = font.getbbox(run, anchor="ls", stroke_width=self.stroke(font))
            left, right = min(left, x + l_), max(right, x + r_)
            if index + 1 < len(runs):  # the advance matters only when another run follows
                x += font.getlength(run)
        ink_left = math.floor(left)
        return LineMetrics(width=math.ceil(right) - ink_left, height=bottom - top, dx=-ink_left, dy=-top)

    def draw(self, draw: ImageDraw.ImageDraw, origin: tuple[int, int], text: str, fill: tuple[int, int, int]) -> None:
        """Draw one line whose layout box has its top-left corner at ``origin``."""
        metrics = self.metrics(text)
        x = float(origin[0] + metrics.dx)
        baseline = origin[1] + metrics.dy
        for run, font in self.runs(text):
            stroke = self.stroke(font)
            draw.text((x, baseline), run, font=font, fill=fill, anchor="ls", stroke_width=stroke, stroke_fill=fill)
            x += font.getlength(run)


class FontLibrary:
    """:class:`FontSet` per size for one family.  Not shared between threads (FreeType faces);
    :meth:`for_thread` gives each worker thread its own, kept across renders (fonts stay loaded)."""

    def __init__(self, family: str | None = None) -> None:
        self.family = family
        self._sets: dict[int, FontSet] = {}

    @classmethod
    def for_thread(cls, family: str | None = None) -> FontLibrary:
        libraries: dict[str | None, FontLibrary] | None = getattr(_per_thread, "libraries", None)
        if libraries is None:
            libraries = _per_thread.libraries = {}
        library = libraries.get(family)
        if library is None:
            if len(libraries) >= _MAX_LIBRARIES_PER_THREAD:
                libraries.clear()
            library = libraries[family] = cls(family)
        return library

    def at(self, size: int) -> FontSet:
        fonts = self._sets.get(size)
        if fonts is None:
            fonts = self._sets[size] = FontSet(size, self.family)
        return fonts


def make_measurer(family: str | None = None, library: FontLibrary | None = None) -> Measure:
    """A :data:`Measure` for :func:`~still_frame.render.layout.compute_layout`."""
    fonts = library or FontLibrary(family)

    def measure(text: str, size: int) -> tuple[int, int]:
        metrics = fonts.at(size).metrics(text)
        return (metrics.width, metrics.height)

    return measure


def _fallback_for(fonts: FontSet, char: str) -> str:
    """Replacement for a character no font has: ASCII punctuation, a base letter or ''."""
    mapped = _PUNCTUATION_FALLBACKS.get(char)
    if mapped is not None and all(fonts.covers(c) for c in mapped):
        return mapped
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base and base != char and all(fonts.covers(c) for c in base):
        return base
    return ""


def renderable_text(text: str, fonts: FontSet) -> str:
    """``text`` reduced to what the fonts can draw, whitespace collapsed; may return ``""``.

    Unsupported characters are replaced by a close equivalent when one exists and dropped
    otherwise (emoji, scripts no bundled font covers).  A dropped character between two
    letters leaves a space, so "Sale🔥Now" becomes "Sale Now", never "SaleNow" or a box.
    """
    normalized = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for i, char in enumerate(normalized):
        category = unicodedata.category(char)
        if char.isspace():
            out.append(" ")
        elif category in _DROP_CATEGORIES:
            continue
        elif category in _INVISIBLE_CATEGORIES:
            if unicodedata.combining(char) and has_glyph(fonts.primary, char):
                out.append(char)  # a combining mark the font draws (NFC left it separate)
        elif fonts.covers(char):
            out.append(char)
        else:
            substitute = _fallback_for(fonts, char)
            if not substitute:
                before = "".join(out)[-1:] or " "
                rest = (c for c in normalized[i + 1 :] if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
                after = next(rest, " ")
                substitute = " " if before.isalnum() and after.isalnum() else ""
            out.append(substitute)
    return " ".join("".join(out).split())
