"""Choice of the text panel (scrim) colour and opacity that guarantees WCAG AA.

The panel is semi-opaque, so the colour behind the text is the panel
composited over the background.  Two brand-tinted candidates are tried (a
dark panel with white text, a light panel with near-black text); each gets
the lowest opacity, from :data:`BASE_ALPHA` up to fully opaque, at which the
text reaches :data:`TARGET_CONTRAST` against both the *average* background
under the panel and a conservative worst case (per-channel extreme of that
area), so bright or dark spots under the panel cannot break legibility.
The candidate needing the lower opacity wins (ties: higher contrast).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageStat

from .brand import RGB, BrandStyle
from .contrast import AA_NORMAL_TEXT, BLACK, WHITE, composite_over, contrast_ratio, mix

BASE_ALPHA = 200
"""Minimum panel opacity (0..255): the background stays faintly visible."""

TARGET_CONTRAST = AA_NORMAL_TEXT + 0.1
"""AA plus a margin for 8-bit rounding when the panel is composited."""


@dataclass(frozen=True, slots=True)
class PanelStyle:
    """Panel fill, its opacity and the text colour drawn on it.

    ``contrast`` is the worst-case ratio (text vs. panel over the brightest /
    darkest backdrop); ``contrast_on_average`` uses the average backdrop.
    """

    rgb: RGB
    alpha: int
    text_rgb: RGB
    contrast: float
    contrast_on_average: float


def _candidate(panel: RGB, text: RGB, mean: tuple[float, ...], worst: tuple[float, ...]) -> PanelStyle | None:
    for alpha in range(BASE_ALPHA, 256):
        a = alpha / 255.0
        worst_ratio = contrast_ratio(text, composite_over(panel, a, worst))
        mean_ratio = contrast_ratio(text, composite_over(panel, a, mean))
        if worst_ratio >= TARGET_CONTRAST and mean_ratio >= TARGET_CONTRAST:
            return PanelStyle(panel, alpha, text, worst_ratio, mean_ratio)
    return None


def choose_panel(backdrop: Image.Image, style: BrandStyle) -> PanelStyle:
    """Pick the panel for text laid over ``backdrop`` (the area under the panel)."""
    rgb = backdrop.convert("RGB")
    mean = tuple(float(v) for v in ImageStat.Stat(rgb).mean[:3])
    extrema = rgb.getextrema()
    lows = tuple(float(lo) for lo, _ in extrema)  # type: ignore[misc]
    highs = tuple(float(hi) for _, hi in extrema)  # type: ignore[misc]
    primary = style.primary_rgb
    options = [
        _candidate(mix(primary, BLACK, 0.72), WHITE, mean, highs),
        _candidate(mix(primary, WHITE, 0.90), mix(primary, BLACK, 0.85), mean, lows),
    ]
    valid = [o for o in options if o is not None]
    if not valid:  # pragma: no cover - the tinted candidates always pass when opaque
        black_on_white = contrast_ratio(BLACK, WHITE)
        return PanelStyle(BLACK, 255, WHITE, black_on_white, black_on_white)
    return min(valid, key=lambda o: (o.alpha, -o.contrast))
