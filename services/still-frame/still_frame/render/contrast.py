"""WCAG 2.x relative luminance and contrast ratio, plus small colour helpers.

Formulas follow WCAG 2.2, "relative luminance" and "contrast ratio"
definitions (sRGB linearisation with the 0.04045 threshold, which the
current W3C text uses instead of the historical 0.03928; the difference is
invisible at 8 bits).  AA for normal text requires a ratio of at least 4.5:1.
"""

from __future__ import annotations

from collections.abc import Sequence

AA_NORMAL_TEXT = 4.5
AA_LARGE_TEXT = 3.0

BLACK: tuple[int, int, int] = (0, 0, 0)
WHITE: tuple[int, int, int] = (255, 255, 255)

ColorLike = Sequence[float]
"""An ``(r, g, b)`` colour with channels in 0..255 (floats allowed)."""


def _linearize(channel: float) -> float:
    c = channel / 255.0
    if c <= 0.04045:
        return c / 12.92
    return float(((c + 0.055) / 1.055) ** 2.4)


def relative_luminance(rgb: ColorLike) -> float:
    """WCAG relative luminance of an sRGB colour, from 0.0 (black) to 1.0 (white)."""
    r, g, b = (float(v) for v in rgb[:3])
    for value in (r, g, b):
        if not 0.0 <= value <= 255.0:
            raise ValueError(f"colour channel out of range in {tuple(rgb)!r}")
    return 0.2126 * _linearize(r) + 0.7152 * _linearize(g) + 0.0722 * _linearize(b)


def contrast_ratio(a: ColorLike, b: ColorLike) -> float:
    """WCAG contrast ratio between two colours, from 1.0 to 21.0 (order-independent)."""
    la = relative_luminance(a)
    lb = relative_luminance(b)
    hi, lo = (la, lb) if la >= lb else (lb, la)
    return (hi + 0.05) / (lo + 0.05)


def mix(a: ColorLike, b: ColorLike, t: float) -> tuple[int, int, int]:
    """Linear blend in sRGB space: ``t=0`` gives ``a``, ``t=1`` gives ``b``."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"mix factor must be within 0..1, got {t}")
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a[:3], b[:3], strict=True))
    return (r, g, bl)


def composite_over(fg: ColorLike, alpha: float, bg: ColorLike) -> tuple[float, float, float]:
    """Colour seen when ``fg`` with opacity ``alpha`` (0..1) is laid over opaque ``bg``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within 0..1, got {alpha}")
    r, g, b = (f * alpha + k * (1.0 - alpha) for f, k in zip(fg[:3], bg[:3], strict=True))
    return (r, g, b)


def best_text_color(background: ColorLike) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``background``.

    For any opaque background the better of the two reaches at least ~4.58:1,
    so this always satisfies WCAG AA for normal text.
    """
    if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background):
        return BLACK
    return WHITE
