"""Deterministic brand-coloured background: a diagonal gradient with soft blobs.

Everything is painted at 1/5 scale and upscaled with a smooth filter: the
design is low-frequency anyway (gradients, heavily blurred shapes), so this
is visually identical to full-resolution work and several times faster.
All randomness comes from a ``random.Random`` seeded by a SHA-256 of the
seed string, so the same seed always yields the same pixels (for a given
Pillow version).  Blobs use the accent plus light and dark tints of the
brand colours, so even a single-colour brand gets visible texture for the
camera move to reveal.
"""

from __future__ import annotations

import hashlib
import math
import random

from PIL import Image, ImageDraw, ImageFilter

from .brand import RGB, BrandStyle
from .contrast import BLACK, WHITE, mix

WORK_SCALE = 5
"""Backgrounds are painted at ``1 / WORK_SCALE`` of the output size."""


def _smoothstep_lut(start: int, peak: int) -> list[int]:
    """Lookup table easing 0 -> ``peak`` over input ``start..255`` (no visible ring)."""
    lut = []
    for v in range(256):
        t = min(1.0, max(0.0, (v - start) / (255 - start)))
        lut.append(round(peak * t * t * (3.0 - 2.0 * t)))
    return lut


_VIGNETTE_LUT = _smoothstep_lut(start=100, peak=100)


def _rng(seed: str) -> random.Random:
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _gradient(size: tuple[int, int], start: RGB, end: RGB, angle_deg: float) -> Image.Image:
    """Linear gradient ``start`` -> ``end`` along a direction tilted ``angle_deg`` from vertical."""
    w, h = size
    side = math.ceil(math.hypot(w, h)) + 2
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    # Rotating a square about its centre keeps the inscribed circle covered,
    # and the central w x h crop (diagonal < side) lies within that circle.
    ramp = ramp.rotate(angle_deg, resample=Image.Resampling.BILINEAR)
    left, top = (side - w) // 2, (side - h) // 2
    mask = ramp.crop((left, top, left + w, top + h))
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def _distance(a: RGB, b: RGB) -> float:
    return math.dist(a, b)


def _blob_palette(style: BrandStyle) -> list[RGB]:
    primary, secondary, accent = style.primary_rgb, style.secondary_rgb, style.accent_rgb
    return [
        accent,
        accent,
        mix(accent, WHITE, 0.35),
        mix(primary, WHITE, 0.45),
        mix(secondary, BLACK, 0.35),
        mix(primary, BLACK, 0.25),
    ]


def _paint_blob(
    canvas: Image.Image,
    rng: random.Random,
    color: RGB,
    radius: float,
    opacity: float,
    softness: float,
) -> Image.Image:
    """Composite one soft ellipse of ``color`` onto ``canvas`` (returns the new image)."""
    w, h = canvas.size
    cx, cy = rng.uniform(-0.15, 1.15) * w, rng.uniform(-0.1, 1.1) * h
    rx = radius * rng.uniform(0.8, 1.25)
    ry = radius * rng.uniform(0.8, 1.25)
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=round(255 * opacity))
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, radius * softness)))
    return Image.composite(Image.new("RGB", canvas.size, color), canvas, mask)


def render_background(style: BrandStyle, width: int, height: int, seed: str) -> Image.Image:
    """Render an RGB ``width x height`` background for ``style``; same ``seed`` -> same pixels."""
    if width <= 0 or height <= 0:
        raise ValueError(f"background size must be positive, got {width}x{height}")
    rng = _rng(seed)
    small = (max(8, math.ceil(width / WORK_SCALE)), max(8, math.ceil(height / WORK_SCALE)))
    unit = min(small)

    angle = rng.uniform(-35.0, 35.0)
    start, end = style.primary_rgb, style.secondary_rgb
    if _distance(start, end) < 60:
        # Near-identical brand colours: shade one end so the gradient still reads.
        end = mix(end, BLACK, 0.3)
    if rng.random() < 0.5:
        start, end = end, start
    canvas = _gradient(small, start, end, angle)

    palette = _blob_palette(style)
    # Large, very soft colour fields first (always the accent, a light and a
    # dark tint, in random order), then a few smaller "bokeh" lights.
    fields = [palette[0], palette[rng.choice((2, 3))], palette[rng.choice((4, 5))]]
    rng.shuffle(fields)
    fields += [palette[rng.randrange(len(palette))] for _ in range(rng.randint(0, 2))]
    for color in fields:
        radius = unit * rng.uniform(0.30, 0.60)
        canvas = _paint_blob(canvas, rng, color, radius, rng.uniform(0.45, 0.75), 0.45)
    for _ in range(rng.randint(4, 7)):
        color = mix(palette[rng.randrange(3)], WHITE, rng.uniform(0.0, 0.4))
        radius = unit * rng.uniform(0.04, 0.12)
        canvas = _paint_blob(canvas, rng, color, radius, rng.uniform(0.25, 0.5), 0.35)

    # A gentle vignette keeps the frame edges calm and adds depth.
    vignette = Image.radial_gradient("L").resize(small, Image.Resampling.BILINEAR)
    vignette = vignette.point(_VIGNETTE_LUT)
    canvas = Image.composite(Image.new("RGB", small, mix(end, BLACK, 0.5)), canvas, vignette)

    return canvas.resize((width, height), Image.Resampling.BICUBIC)
