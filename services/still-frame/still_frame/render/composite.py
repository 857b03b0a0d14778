"""Compose the branded still: background, text panel, headline, CTA and logo.

:func:`render_still` does the work and also returns what was decided (the
layout, panel colour/opacity, achieved contrast), which the service can log
and tests can check; :func:`compose_still` returns only the image.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

from .brand import RGB, BrandStyle
from .contrast import best_text_color, contrast_ratio
from .fonts import FontLibrary, make_measurer, renderable_text
from .formats import output_size
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


@dataclass(frozen=True, slots=True)
class StillResult:
    """The rendered still plus the decisions behind it."""

    image: Image.Image
    layout: Layout
    panel: PanelStyle
    cta_rgb: RGB | None
    cta_text_rgb: RGB | None
    cta_contrast: float | None
    headline_text: str
    """The headline as drawn, after mapping/dropping glyphs the font lacks."""
    cta_text: str | None


def cover_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale ``image`` to cover ``width x height`` and centre-crop (never stretches)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        flat = Image.new("RGBA", image.size, (0, 0, 0, 255))
        flat.alpha_composite(image.convert("RGBA"))
        image = flat
    rgb = image.convert("RGB")  # always a new image, the caller's is never modified
    if rgb.size == (width, height):
        return rgb
    return ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _rounded_mask(size: tuple[int, int], radius: int, opacity: int) -> Image.Image:
    """Anti-aliased rounded-rectangle mask (drawn supersampled, then box-reduced)."""
    w, h = size
    ss = _SUPERSAMPLE
    big = Image.new("L", (w * ss, h * ss), 0)
    ImageDraw.Draw(big).rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=radius * ss, fill=opacity)
    return big.reduce(ss)


def _fill_rounded(canvas: Image.Image, box: Box, rgb: RGB, opacity: int, radius: int) -> None:
    mask = _rounded_mask(box.size, min(radius, box.height // 2, box.width // 2), opacity)
    canvas.paste(Image.new("RGB", box.size, rgb), (box.left, box.top), mask)


def _draw_block(canvas: Image.Image, block: TextBlock, fonts: FontLibrary, fill: RGB) -> None:
    font_set = fonts.at(block.font_size)
    draw = ImageDraw.Draw(canvas)
    for line in block.lines:
        font_set.draw(draw, (line.box.left, line.box.top), line.text, fill)


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
    """Render the still and report the layout and colour decisions.

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
    canvas = cover_crop(background, width, height)
    panel = choose_panel(canvas.crop(layout.panel.as_tuple()), style)
    radius = round(min(width, height) * 0.03)
    _fill_rounded(canvas, layout.panel, panel.rgb, panel.alpha, radius)

    if logo is not None and layout.logo is not None:
        scaled = resize_logo(logo, layout.logo.size)
        canvas.paste(scaled.convert("RGB"), (layout.logo.left, layout.logo.top), scaled)

    _draw_block(canvas, layout.headline, fonts, panel.text_rgb)

    cta_rgb: RGB | None = None
    cta_text_rgb: RGB | None = None
    cta_contrast: float | None = None
    if layout.cta is not None:
        cta_rgb = style.accent_rgb
        cta_text_rgb = best_text_color(cta_rgb)
        cta_contrast = contrast_ratio(cta_text_rgb, cta_rgb)
        pill = layout.cta.box
        _fill_rounded(canvas, pill, cta_rgb, 255, pill.height // 2)
        _draw_block(canvas, layout.cta, fonts, cta_text_rgb)

    return StillResult(
        image=canvas,
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

    The background is cover-cropped to the aspect ratio's size (see
    :func:`~still_frame.render.formats.output_size`), never stretched.
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
