"""Rendered stills for every format x aspect x headline x logo shape: geometry, safe zones and contrast.

Complements the pure layout matrix (test_render_layout.py) with what the compositor actually drew.
"""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, ImageDraw

from still_frame.render import BrandStyle, render_background, render_still
from still_frame.render.formats import SAFE_ZONES, output_size
from still_frame.render.geometry import Box

HEADLINES = {
    "short": "Big news",
    "long": "Our biggest summer launch ever: fresh flavours, limited editions and a surprise collaboration "
    "with local artists, in every store and online from Friday morning while stocks last",
    "unicode": "Crème brûlée — 東京の夏祭り, Привет, Ελλάδα! \U0001f389 Việt Nam",
}
LOGOS = {"wide": (480, 120), "tall": (120, 480), "square": (300, 300), "none": None}
STYLES = [
    BrandStyle(primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B"),
    BrandStyle(primary="#FDE68A", secondary="#FFFFFF", accent="#FDE047"),  # light brand, light accent
]


def _logo(size: tuple[int, int]) -> bytes:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((0, 0, size[0] - 1, size[1] - 1), fill=(200, 30, 60, 255))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _exclusions(fmt: str, width: int, height: int) -> list[Box]:
    """The UI bands of a format (complement of its safe zone) as pixel boxes."""
    zone = SAFE_ZONES[fmt]
    left, top = int(zone.left * width), int(zone.top * height)
    right, bottom = round(zone.right * width), round(zone.bottom * height)
    bands = [Box(0, 0, width, top), Box(0, bottom, width, height)]
    bands += [Box(0, 0, left, height), Box(right, 0, width, height)]
    return [band for band in bands if band.width > 0 and band.height > 0]


@pytest.mark.parametrize("logo_key", sorted(LOGOS))
@pytest.mark.parametrize("headline_key", sorted(HEADLINES))
@pytest.mark.parametrize("aspect", ["9:16", "1:1"])
@pytest.mark.parametrize("fmt", sorted(SAFE_ZONES))
def test_rendered_still_geometry_and_contrast(fmt: str, aspect: str, headline_key: str, logo_key: str) -> None:
    width, height = output_size(aspect)
    style = STYLES[zlib.crc32(f"{fmt}{aspect}{headline_key}{logo_key}".encode()) % len(STYLES)]
    logo_size = LOGOS[logo_key]
    result = render_still(
        render_background(style, width, height, seed=f"{fmt}{aspect}{headline_key}"),
        style=style,
        headline=HEADLINES[headline_key],
        cta="Shop now \u2192",
        logo_png=_logo(logo_size) if logo_size else None,
        platform_format=fmt,
        aspect_ratio=aspect,
    )
    layout = result.layout
    assert result.image.size == (width, height)
    frame = Box(0, 0, width, height)
    boxes = [layout.panel, layout.headline.box, *(line.box for line in layout.headline.lines)]
    if layout.cta is not None:
        boxes += [layout.cta.box, *(line.box for line in layout.cta.lines)]
    if layout.logo is not None:
        boxes.append(layout.logo)
    for box in boxes:
        assert frame.contains(box), box
        for band in _exclusions(fmt, width, height):
            assert not box.intersects(band), (box, band)
    assert not layout.truncated
    # Accents and scripts are kept; the emoji is dropped, never drawn as a box.
    if headline_key == "unicode":
        drawn = result.headline_text
        assert "brûlée" in drawn and "東京" in drawn and "Ελλάδα" in drawn and "\U0001f389" not in drawn
    # WCAG AA: text vs panel over the worst and the average backdrop, and CTA text vs its pill.
    assert result.panel.contrast >= 4.5 and result.panel.contrast_on_average >= 4.5
    assert result.cta_contrast is not None and result.cta_contrast >= 4.5
    # The logo keeps its aspect ratio.
    if logo_size is None:
        assert layout.logo is None
    else:
        assert layout.logo is not None
        assert abs((layout.logo.width / layout.logo.height) / (logo_size[0] / logo_size[1]) - 1) <= 0.01
