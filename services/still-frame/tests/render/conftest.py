"""Shared fixtures for the still-frame render tests."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from still_frame.render.brand import BrandStyle
from still_frame.render.fonts import make_measurer
from still_frame.render.wrapping import Measure

LogoFactory = Callable[..., bytes]


@pytest.fixture(scope="session")
def style() -> BrandStyle:
    return BrandStyle(primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B", tone="bold")


@pytest.fixture(scope="session")
def measure() -> Measure:
    """Real measurement with the bundled font (bold stroke included)."""
    return make_measurer(None)


@pytest.fixture(scope="session")
def make_logo_png() -> LogoFactory:
    """Factory: ``make_logo_png(w, h, rgba=(r, g, b, a), fmt="PNG") -> bytes``."""

    def factory(
        width: int,
        height: int,
        rgba: tuple[int, int, int, int] = (220, 20, 60, 255),
        fmt: str = "PNG",
    ) -> bytes:
        img = Image.new("RGBA", (width, height), rgba)
        if rgba[3] > 0:
            ImageDraw.Draw(img).rectangle(
                (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(255, 255, 255, rgba[3])
            )
        buffer = io.BytesIO()
        (img if fmt in ("PNG", "WEBP") else img.convert("RGB")).save(buffer, format=fmt)
        return buffer.getvalue()

    return factory
