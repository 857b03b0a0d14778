"""Typesetting: font size bounds and fitting wrapped copy into a content box.

Pure code around a ``measure`` callable (no Pillow).  :class:`TextFitter`
finds the largest headline size in :class:`TypeScale` bounds at which the
headline (and the CTA below it, at a matching size) wraps into the content
box; only at the minimum size may long words be broken, and only if even
that fails are trailing lines dropped and the last one ellipsized.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wrapping import Measure, ellipsize, wrap_text

MAX_CTA_LINES = 2
"""A CTA longer than this many lines is ellipsized (it is a button, not copy)."""


@dataclass(frozen=True, slots=True)
class TypeScale:
    """Font size bounds in pixels."""

    headline_max: int
    headline_min: int
    cta_max: int
    cta_min: int

    def __post_init__(self) -> None:
        if not (0 < self.headline_min <= self.headline_max and 0 < self.cta_min <= self.cta_max):
            raise ValueError(f"inconsistent type scale {self!r}")

    @classmethod
    def for_frame(cls, width: int, height: int) -> TypeScale:
        """Default sizes, proportional to the short side of the frame (1080 px -> 108..45)."""
        unit = min(width, height)
        return cls(
            headline_max=round(unit * 0.100),
            headline_min=round(unit * 0.036),
            cta_max=round(unit * 0.052),
            cta_min=round(unit * 0.036),
        )

    def cta_size(self, headline_size: int) -> int:
        """CTA size that goes with a headline size (about half, clamped)."""
        return max(self.cta_min, min(self.cta_max, round(headline_size * 0.5)))


def leading(size: int) -> int:
    """Extra space between two lines of ``size`` px text."""
    return round(size * 0.12)


def cta_gap(headline_size: int) -> int:
    """Space between the headline's last line and the CTA pill."""
    return round(headline_size * 0.45)


def pill_pad(cta_size: int) -> tuple[int, int]:
    """Horizontal and vertical padding inside the CTA pill."""
    return (round(cta_size * 0.7), round(cta_size * 0.35))


@dataclass(frozen=True, slots=True)
class Fit:
    """Chosen sizes and wrapped lines; ``truncated`` when text was cut."""

    size: int
    cta_size: int
    headline: list[str]
    cta: list[str] | None
    truncated: bool


class TextFitter:
    """Wraps and measures text for one layout computation (memoised measure)."""

    def __init__(
        self,
        measure: Measure,
        cache: dict[tuple[str, int], tuple[int, int]],
        scale: TypeScale,
        content_w: int,
        content_h: int,
        ellipsis: str,
    ) -> None:
        self._measure = measure
        self._cache = cache
        self.scale = scale
        self.content_w = content_w
        self.content_h = content_h
        self.ellipsis = ellipsis

    def measure(self, text: str, size: int) -> tuple[int, int]:
        key = (text, size)
        hit = self._cache.get(key)
        if hit is None:
            w, h = self._measure(text, size)
            hit = self._cache[key] = (int(w), int(h))
        return hit

    def line_height(self, lines: list[str], size: int) -> int:
        return max(self.measure(line, size)[1] for line in lines)

    def block_height(self, lines: list[str], size: int) -> int:
        """Stacked height: each line's own height (a line with CJK is taller) plus leading."""
        return sum(self.measure(line, size)[1] for line in lines) + (len(lines) - 1) * leading(size)

    def cta_block_height(self, lines: list[str], size: int) -> int:
        return self.block_height(lines, size) + 2 * pill_pad(size)[1]

    def wrap_cta(self, cta: str, size: int, final: bool) -> tuple[list[str], bool] | None:
        width = self.content_w - 2 * pill_pad(size)[0]
        lines = wrap_text(cta, size, width, self.measure, break_long_words=final)
        if lines is None:
            return None
        if len(lines) <= MAX_CTA_LINES:
            return (lines, False)
        kept = lines[:MAX_CTA_LINES]
        kept[-1] = ellipsize(kept[-1], size, width, self.measure, self.ellipsis)
        return (kept, True)

    def total_height(self, fit: Fit) -> int:
        total = self.block_height(fit.headline, fit.size)
        if fit.cta:
            total += cta_gap(fit.size) + self.cta_block_height(fit.cta, fit.cta_size)
        return total

    def attempt(self, headline: str, cta: str | None, size: int, final: bool) -> Fit | None:
        lines = wrap_text(headline, size, self.content_w, self.measure, break_long_words=final)
        if lines is None:
            return None
        cta_size = self.scale.cta_size(size)
        cta_lines: list[str] | None = None
        cut = False
        if cta:
            wrapped = self.wrap_cta(cta, cta_size, final)
            if wrapped is None:
                return None
            cta_lines, cut = wrapped
        fit = Fit(size, cta_size, lines, cta_lines, cut)
        return fit if self.total_height(fit) <= self.content_h else None

    def truncate(self, headline: str, cta: str | None) -> Fit:
        """Last resort at the minimum size: drop trailing lines and ellipsize."""
        size = self.scale.headline_min
        lines = wrap_text(headline, size, self.content_w, self.measure, break_long_words=True)
        if not lines:
            raise ValueError("layout impossible: frame too narrow for a single character")
        cta_size = self.scale.cta_size(size)
        cta_lines = self.wrap_cta(cta, cta_size, True) if cta else None
        for candidate in ((cta_lines[0] if cta_lines else None), None):
            reserved = 0
            if candidate:
                reserved = cta_gap(size) + self.cta_block_height(candidate, cta_size)
            pitch = self.line_height(lines, size) + leading(size)
            n = (self.content_h - reserved + leading(size)) // pitch
            if n >= 1:
                kept = lines[: min(n, len(lines))]
                if len(kept) < len(lines):
                    kept[-1] = ellipsize(kept[-1], size, self.content_w, self.measure, self.ellipsis)
                return Fit(size, cta_size, kept, candidate, True)
        raise ValueError("layout impossible: safe area too small for one line of text")

    def best(self, headline: str, cta: str | None) -> Fit:
        """Largest size that fits: bisection over sizes (wrapping is ~monotonic)."""
        lo, hi = self.scale.headline_min, self.scale.headline_max
        top = self.attempt(headline, cta, hi, final=hi == lo)
        if top is not None:
            return top
        found: Fit | None = None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            fit = self.attempt(headline, cta, mid, final=False)
            if fit is not None:
                lo, found = mid, fit
            else:
                hi = mid
        if found is not None:
            return found
        at_min = self.attempt(headline, cta, self.scale.headline_min, final=True)
        return at_min if at_min is not None else self.truncate(headline, cta)
