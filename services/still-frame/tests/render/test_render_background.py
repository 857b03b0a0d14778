"""Deterministic, textured, correctly sized backgrounds."""

from __future__ import annotations

import pytest
from PIL import ImageStat

from still_frame.render.background import render_background
from still_frame.render.brand import BrandStyle


def _mean_stddev(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize("size", [(1080, 1920), (1080, 1080), (333, 555)])
def test_size_and_mode(style: BrandStyle, size: tuple[int, int]) -> None:
    img = render_background(style, *size, seed="post-1")
    assert img.size == size
    assert img.mode == "RGB"


def test_deterministic(style: BrandStyle) -> None:
    a = render_background(style, 1080, 1920, seed="post-123")
    b = render_background(style, 1080, 1920, seed="post-123")
    assert a.tobytes() == b.tobytes()


def test_seed_changes_the_picture(style: BrandStyle) -> None:
    a = render_background(style, 540, 960, seed="post-1")
    b = render_background(style, 540, 960, seed="post-2")
    assert a.tobytes() != b.tobytes()


@pytest.mark.parametrize(
    "brand",
    [
        BrandStyle("#1E3A8A", "#9333EA", "#F59E0B"),
        BrandStyle("#0F766E", "#F0FDFA", "#E11D48"),
        BrandStyle("#FF5500", "#FF5500", "#FF5500"),  # single-colour brand still gets texture
    ],
)
def test_not_flat(brand: BrandStyle) -> None:
    img = render_background(brand, 1080, 1920, seed="texture")
    assert _mean_stddev(ImageStat.Stat(img).stddev) > 8.0
    # Texture everywhere, not just in one spot: each vertical third varies too.
    for i in range(3):
        third = img.crop((0, i * 640, 1080, (i + 1) * 640))
        assert _mean_stddev(ImageStat.Stat(third).stddev) > 2.0


def test_uses_brand_colours(style: BrandStyle) -> None:
    img = render_background(style, 1080, 1920, seed="colours")
    _, g, b = ImageStat.Stat(img).mean
    assert b > g  # blue/purple brand reads blue/purple


def test_invalid_size(style: BrandStyle) -> None:
    with pytest.raises(ValueError):
        render_background(style, 0, 100, seed="x")
