"""Pure layout geometry for the still: logo, text panel, headline and CTA boxes.

Nothing here draws or loads fonts; text is sized through a ``measure``
callable ``(text, font_size) -> (width, height)``, so the geometry can be
tested exhaustively and reused with any font.

The template, inside the platform safe rect (see :mod:`.formats`):

* logo in a top corner, scaled to fit ~18% of the frame width (aspect kept);
* a panel (scrim) holding the headline and, below it, a CTA "pill", centred
  horizontally and vertically on the safe rect but always below the logo
  (for copy too long to fit, the logo first shrinks, then the panel moves
  beside it, see :data:`LOGO_FALLBACKS`);
* the headline takes the largest font size in ``[headline_min,
  headline_max]`` at which it wraps into the panel; words are broken without
  a hyphen only if they do not fit even at the minimum size; as a last
  resort (absurdly long copy) lines are dropped and the last one ellipsized,
  flagged with ``Layout.truncated``.  Text is never placed outside its box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .formats import safe_rect
from .geometry import Box
from .typesetting import TextFitter, TypeScale, cta_gap, leading, pill_pad
from .wrapping import Measure

LOGO_MAX_WIDTH_FRACTION = 0.18
LOGO_MAX_SAFE_HEIGHT_FRACTION = 0.25
Arrangement = Literal["band", "column"]

LOGO_FALLBACKS: tuple[tuple[float, Arrangement], ...] = (
    (1.0, "band"),
    (0.8, "band"),
    (0.6, "band"),
    (0.6, "column"),
)
"""(logo scale, arrangement) tried in order until the copy fits without truncation:
normally the panel sits below the logo ("band"); for very long copy the logo
shrinks and finally the panel moves beside it ("column") to use the full height."""


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    box: Box


@dataclass(frozen=True, slots=True)
class TextBlock:
    """Wrapped text: the block's box, its font size and each line's box."""

    box: Box
    font_size: int
    lines: tuple[TextLine, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """Every box the compositor draws, in frame pixel coordinates.

    ``cta.box`` is the pill around the CTA text; ``panel`` is the scrim
    behind headline and CTA.  ``truncated`` is True when text had to be cut.
    """

    frame: Box
    safe: Box
    panel: Box
    headline: TextBlock
    cta: TextBlock | None
    logo: Box | None
    type_scale: TypeScale
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class _Spacing:
    panel_pad: int
    logo_gap: int

    @classmethod
    def for_frame(cls, width: int, height: int) -> _Spacing:
        unit = min(width, height)
        return cls(panel_pad=round(unit * 0.045), logo_gap=round(unit * 0.03))


def fit_logo(logo_w: int, logo_h: int, max_w: int, max_h: int) -> tuple[int, int]:
    """Largest integer size within ``max_w x max_h`` keeping the logo's aspect ratio.

    Rounding to whole pixels distorts small sizes; the limiting side is
    nudged down a few pixels if that makes the aspect ratio (nearly) exact.
    """
    if logo_w <= 0 or logo_h <= 0 or max_w <= 0 or max_h <= 0:
        raise ValueError(f"invalid logo fit {logo_w}x{logo_h} into {max_w}x{max_h}")
    ratio = logo_w / logo_h
    width_limited = max_w / logo_w <= max_h / logo_h
    best: tuple[float, int, int] | None = None
    top = max_w if width_limited else max_h
    for side in range(top, max(0, int(top * 0.97)) - 1, -1):
        if side <= 0:
            break
        if width_limited:
            w, h = side, min(max_h, max(1, round(side / ratio)))
        else:
            w, h = min(max_w, max(1, round(side * ratio))), side
        error = abs((w / h) / ratio - 1.0)
        if best is None or error < best[0] - 1e-12:
            best = (error, w, h)
        if error <= 0.002:
            break
    if best is None:  # pragma: no cover - the loop always runs at least once
        raise ValueError("logo fit failed")
    return (best[1], best[2])


def _place_logo(
    logo_size: tuple[int, int], safe: Box, width: int, corner: Literal["left", "right"], shrink: float
) -> Box:
    """Logo box in the top ``corner`` of the safe rect; ``shrink`` scales the slot."""
    max_w = max(1, round(min(safe.width, width * LOGO_MAX_WIDTH_FRACTION) * shrink))
    max_h = max(1, min(max_w, round(safe.height * LOGO_MAX_SAFE_HEIGHT_FRACTION * shrink)))
    w, h = fit_logo(logo_size[0], logo_size[1], max_w, max_h)
    left = safe.left if corner == "left" else safe.right - w
    return Box.from_size(left, safe.top, w, h)


def _stack_lines(fitter: TextFitter, lines: list[str], size: int, top: int, center_x: float) -> tuple[TextLine, ...]:
    out: list[TextLine] = []
    y = top
    for line in lines:
        w, h = fitter.measure(line, size)
        out.append(TextLine(line, Box.from_size(round(center_x - w / 2), y, w, h)))
        y += h + leading(size)
    return tuple(out)


def _union(boxes: list[Box]) -> Box:
    return Box(
        min(b.left for b in boxes),
        min(b.top for b in boxes),
        max(b.right for b in boxes),
        max(b.bottom for b in boxes),
    )


@dataclass(frozen=True, slots=True)
class _Request:
    width: int
    height: int
    headline: str
    cta: str | None
    logo_size: tuple[int, int] | None
    logo_corner: Literal["left", "right"]
    ellipsis: str
    scale: TypeScale
    safe: Box


def _text_region(safe: Box, logo: Box, gap: int, arrangement: Arrangement) -> Box:
    """Part of the safe rect left for the panel: below the logo ("band") or beside it ("column")."""
    if arrangement == "band":
        top = min(logo.bottom + gap, safe.bottom)
        return Box(safe.left, top, safe.right, safe.bottom)
    if logo.left == safe.left:  # logo in the left corner: text to its right
        return Box(min(logo.right + gap, safe.right), safe.top, safe.right, safe.bottom)
    return Box(safe.left, safe.top, max(logo.left - gap, safe.left), safe.bottom)


def _layout_once(
    req: _Request,
    measure: Measure,
    cache: dict[tuple[str, int], tuple[int, int]],
    shrink: float,
    arrangement: Arrangement,
) -> Layout:
    spacing = _Spacing.for_frame(req.width, req.height)
    safe = req.safe
    logo = _place_logo(req.logo_size, safe, req.width, req.logo_corner, shrink) if req.logo_size else None
    region = safe if logo is None else _text_region(safe, logo, spacing.logo_gap, arrangement)
    pad = spacing.panel_pad
    content_w, content_h = region.width - 2 * pad, region.height - 2 * pad
    if content_w <= 0 or content_h <= 0:
        raise ValueError("layout impossible: safe area too small for the text panel")
    fitter = TextFitter(measure, cache, req.scale, content_w, content_h, req.ellipsis)
    fit = fitter.best(req.headline, req.cta)

    pill_px, pill_py = pill_pad(fit.cta_size)
    widths = [fitter.measure(line, fit.size)[0] for line in fit.headline]
    cta_widths = [fitter.measure(line, fit.cta_size)[0] for line in fit.cta or []]
    used_w = max([*widths, *(w + 2 * pill_px for w in cta_widths)])
    panel_w = min(region.width, max(used_w + 2 * pad, round(region.width * 0.5)))
    panel_h = fitter.total_height(fit) + 2 * pad
    panel_top = round(safe.center[1] - panel_h / 2)
    panel_top = max(region.top, min(panel_top, region.bottom - panel_h))
    panel = Box.from_size(region.left + (region.width - panel_w) // 2, panel_top, panel_w, panel_h)
    center_x = panel.center[0]

    head_lines = _stack_lines(fitter, fit.headline, fit.size, panel.top + pad, center_x)
    headline_block = TextBlock(_union([ln.box for ln in head_lines]), fit.size, head_lines)

    cta_block: TextBlock | None = None
    if fit.cta:
        pill_top = headline_block.box.bottom + cta_gap(fit.size)
        pill_w = max(cta_widths) + 2 * pill_px
        pill_h = fitter.cta_block_height(fit.cta, fit.cta_size)
        pill = Box.from_size(round(center_x - pill_w / 2), pill_top, pill_w, pill_h)
        cta_lines = _stack_lines(fitter, fit.cta, fit.cta_size, pill.top + pill_py, center_x)
        cta_block = TextBlock(pill, fit.cta_size, cta_lines)

    return Layout(
        frame=Box(0, 0, req.width, req.height),
        safe=safe,
        panel=panel,
        headline=headline_block,
        cta=cta_block,
        logo=logo,
        type_scale=req.scale,
        truncated=fit.truncated,
    )


def compute_layout(
    width: int,
    height: int,
    platform_format: str,
    headline: str,
    cta: str | None,
    logo_size: tuple[int, int] | None,
    measure: Measure,
    *,
    type_scale: TypeScale | None = None,
    logo_corner: Literal["left", "right"] = "left",
    ellipsis: str = "\u2026",
) -> Layout:
    """Compute every box of the still for a ``width x height`` frame.

    If the copy does not fit even at the minimum font size, the logo is
    shrunk and then moved beside the panel (see :data:`LOGO_FALLBACKS`)
    before any text is truncated.
    Raises ``ValueError`` for an empty headline, an unknown format or a frame
    too small to hold one line of text.
    """
    headline = " ".join(headline.split())
    if not headline:
        raise ValueError("headline must not be empty")
    if logo_size is not None and (logo_size[0] <= 0 or logo_size[1] <= 0):
        raise ValueError(f"logo size must be positive, got {logo_size}")
    req = _Request(
        width=width,
        height=height,
        headline=headline,
        cta=" ".join(cta.split()) or None if cta else None,
        logo_size=logo_size,
        logo_corner=logo_corner,
        ellipsis=ellipsis,
        scale=type_scale or TypeScale.for_frame(width, height),
        safe=safe_rect(platform_format, width, height),
    )
    cache: dict[tuple[str, int], tuple[int, int]] = {}
    if logo_size is None:
        return _layout_once(req, measure, cache, 1.0, "band")
    attempts: list[Layout] = []
    for index, (shrink, arrangement) in enumerate(LOGO_FALLBACKS):
        try:
            layout = _layout_once(req, measure, cache, shrink, arrangement)
        except ValueError:
            if index == 0:
                raise
            continue  # this fallback arrangement has no room at all; try the next
        if not layout.truncated:
            return layout
        attempts.append(layout)
    # Every arrangement truncates: keep the one that shows the most text.
    return max(attempts, key=lambda lay: sum(len(ln.text) for ln in lay.headline.lines))
