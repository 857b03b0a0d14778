"""Compose the branded still from one layout, as three images: source, overlay and the composited still.

* the **source**: the generated image fitted to the deliverable's frame (:mod:`.framing`), with no text and no logo:
  what the video model animates;
* the **overlay**: an RGBA image of the same size holding only the text panel, headline, CTA and logo, transparent
  everywhere else: blended onto every frame after animation, so brand text never warps;
* the **still**: the overlay alpha-composited onto the source, for review and as the poster fallback (and what the
  model animates when the brand layer is baked in).

:func:`render_still` does the work and also returns what was decided (the layout, panel colour/opacity, achieved
contrast), which the service can log and tests can check; :func:`compose_still` returns only the still.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw

from .brand import RGB, BrandStyle
from .contrast import best_text_color, contrast_ratio
from .fonts import FontLibrary, make_measurer, renderable_text
from .formats import output_size
from .framing import cover_crop, fit_to_frame
from .geometry import Box
from .layout import Layout, TextBlock, compute_layout
from .logo import decode_logo, resize_logo, validate_logo
from .panel import PanelStyle, choose_panel

__all__ = [
    "StillResult",
    "compose_still",
    "cover_crop",
    "encode_png",
    "render_still",
    "validate_logo",
]

_SUPERSAMPLE = 4
_PROBE_FONT_SIZE = 48
_CLEAR = (0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class StillResult:
    """The rendered still, its source and overlay, plus the decisions behind them."""

    image: Image.Image
    """The composited still (RGB): ``source`` with ``overlay`` alpha-composited onto it."""
    source: Image.Image
    """The fitted image without text or logo (RGB, frame size)."""
    overlay: Image.Image
    """Panel, headline, CTA and logo on transparency (RGBA, frame size)."""
    layout: Layout
    panel: PanelStyle
    cta_rgb: RGB | None
    cta_text_rgb: RGB | None
    cta_contrast: float | None
    headline_text: str
    """The headline as drawn, after mapping/dropping glyphs the font lacks."""
    cta_text: str | None


def _rounded_mask(size: tuple[int, int], radius: int, opacity: int) -> Image.Image:
    """Anti-aliased rounded-rectangle mask (drawn supersampled, then box-reduced)."""
    w, h = size
    ss = _SUPERSAMPLE
    big = Image.new("L", (w * ss, h * ss), 0)
    ImageDraw.Draw(big).rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=radius * ss, fill=opacity)
    return big.reduce(ss)


def _layer_rounded(overlay: Image.Image, box: Box, rgb: RGB, opacity: int, radius: int, *, first: bool = False) -> None:
    """A rounded rectangle laid over ``overlay`` (``first``: the overlay is still clear there, so it is just put)."""
    patch = Image.new("RGBA", box.size, (*rgb, 0))
    patch.putalpha(_rounded_mask(box.size, min(radius, box.height // 2, box.width // 2), opacity))
    if first:
        overlay.paste(patch, (box.left, box.top))
    else:
        overlay.alpha_composite(patch, dest=(box.left, box.top))


def _layer_text(overlay: Image.Image, block: TextBlock, fonts: FontLibrary, fill: RGB) -> None:
    # Glyphs are drawn on a clear layer of their own colour (coverage becomes alpha, no dark fringe), then laid over.
    # The layer covers the block with a margin of one font size (strokes, overhangs), not the whole frame.
    pad = block.font_size
    area = Box(
        left=max(0, block.box.left - pad),
        top=max(0, block.box.top - pad),
        right=min(overlay.width, block.box.right + pad),
        bottom=min(overlay.height, block.box.bottom + pad),
    )
    layer = Image.new("RGBA", area.size, (*fill, 0))
    font_set = fonts.at(block.font_size)
    draw = ImageDraw.Draw(layer)
    for line in block.lines:
        font_set.draw(draw, (line.box.left - area.left, line.box.top - area.top), line.text, fill)
    overlay.alpha_composite(layer, dest=(area.left, area.top))


def _composite(source: Image.Image, overlay: Image.Image) -> Image.Image:
    """``overlay`` laid over ``source`` (RGB); only the overlay's non-clear area is blended, the rest is copied."""
    still = source.copy()
    area = overlay.getchannel("A").getbbox()
    if area is not None:
        blended = Image.alpha_composite(source.crop(area).convert("RGBA"), overlay.crop(area))
        still.paste(blended.convert("RGB"), area[:2])
    return still


def render_still(
    background: Image.Image,
    *,
    style: BrandStyle,
    headline: str,
    cta: str | None,
    logo_png: bytes | None,
    platform_format: str,
    aspect_ratio: str = "9:16",
) -> StillResult:
    """Render source, overlay and still from one layout, and report the layout and colour decisions.

    Raises ``ValueError`` for an unknown format/aspect ratio, an empty
    headline or an invalid logo (``"invalid logo: ..."``).
    """
    width, height = output_size(aspect_ratio)
    fonts = FontLibrary.for_thread(style.font_family)
    probe = fonts.at(_PROBE_FONT_SIZE)
    if not headline.strip():
        raise ValueError("headline must not be empty")
    headline_text = renderable_text(headline, probe)
    if not headline_text:
        raise ValueError(f"headline {headline!r} has no characters the bundled fonts can draw")
    # A CTA with nothing drawable (e.g. emoji only) gets no button rather than an empty pill.
    cta_text = (renderable_text(cta, probe) or None) if cta and cta.strip() else None
    logo = decode_logo(logo_png) if logo_png is not None else None
    ellipsis = "\u2026" if probe.covers("\u2026") else "..."

    layout = compute_layout(
        width,
        height,
        platform_format,
        headline_text,
        cta_text,
        logo.size if logo is not None else None,
        make_measurer(library=fonts),
        ellipsis=ellipsis,
    )
    source = fit_to_frame(background, width, height)
    panel = choose_panel(source.crop(layout.panel.as_tuple()), style)
    radius = round(min(width, height) * 0.03)
    overlay = Image.new("RGBA", (width, height), _CLEAR)
    _layer_rounded(overlay, layout.panel, panel.rgb, panel.alpha, radius, first=True)

    if logo is not None and layout.logo is not None:
        overlay.alpha_composite(resize_logo(logo, layout.logo.size), dest=(layout.logo.left, layout.logo.top))

    _layer_text(overlay, layout.headline, fonts, panel.text_rgb)

    cta_rgb: RGB | None = None
    cta_text_rgb: RGB | None = None
    cta_contrast: float | None = None
    if layout.cta is not None:
        cta_rgb = style.accent_rgb
        cta_text_rgb = best_text_color(cta_rgb)
        cta_contrast = contrast_ratio(cta_text_rgb, cta_rgb)
        pill = layout.cta.box
        _layer_rounded(overlay, pill, cta_rgb, 255, pill.height // 2)
        _layer_text(overlay, layout.cta, fonts, cta_text_rgb)

    still = _composite(source, overlay)
    return StillResult(
        image=still,
        source=source,
        overlay=overlay,
        layout=layout,
        panel=panel,
        cta_rgb=cta_rgb,
        cta_text_rgb=cta_text_rgb,
        cta_contrast=cta_contrast,
        headline_text=headline_text,
        cta_text=cta_text,
    )


def compose_still(
    background: Image.Image,
    *,
    style: BrandStyle,
    headline: str,
    cta: str | None,
    logo_png: bytes | None,
    platform_format: str,
    aspect_ratio: str = "9:16",
) -> Image.Image:
    """Compose the branded still as an RGB image of the exact output size.

    The background is cropped or extended to the aspect ratio's size (see
    :func:`~still_frame.render.framing.fit_to_frame`), never stretched.
    """
    return render_still(
        background,
        style=style,
        headline=headline,
        cta=cta,
        logo_png=logo_png,
        platform_format=platform_format,
        aspect_ratio=aspect_ratio,
    ).image


def encode_png(img: Image.Image) -> bytes:
    """Encode ``img`` as PNG bytes (RGB/RGBA kept, other modes converted to RGB)."""
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    buffer = io.BytesIO()
    # Run-length zlib strategy: on smooth backgrounds it is both smaller and faster than the default.
    img.save(buffer, format="PNG", compress_level=3, compress_type=zlib.Z_RLE)
    return buffer.getvalue()
