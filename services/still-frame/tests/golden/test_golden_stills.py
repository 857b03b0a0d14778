"""Golden-image tests: a few representative stills compared with stored PNGs under a perceptual tolerance.

Stills are compared at quarter resolution (270 px wide: layout, colours and text shapes, not
anti-aliasing noise), with two measures: the mean absolute difference per channel, and the share of
pixels that differ visibly (more than 48 of 255 on any channel after a light blur, so a sub-pixel
glyph shift does not count but a moved, missing or recoloured element does).

Regenerate after an intended visual change, then look at the PNGs before committing them:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest services/still-frame/tests/golden
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from still_frame.render import BrandStyle, compose_still, output_size, render_background

GOLDEN_DIR = Path(__file__).parent
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
MAX_MEAN_DIFF = 2.5  # of 255, averaged over pixels and channels
MAX_CHANGED_SHARE = 0.01  # share of pixels that differ visibly
VISIBLE = 48


def _logo(width: int, height: int) -> bytes:
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=min(width, height) // 4, fill=(255, 255, 255, 235))
    draw.ellipse((width // 8, height // 8, width // 8 + height * 3 // 4, height * 7 // 8), fill=(220, 38, 38, 255))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


CASES = {
    "reel_short_cta_wide_logo": dict(
        style=BrandStyle(primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B"),
        headline="Summer menu is here",
        cta="Order now",
        logo=(480, 160),
        platform_format="reel",
        aspect_ratio="9:16",
    ),
    "tiktok_unicode_tall_logo_light": dict(
        style=BrandStyle(primary="#FDE68A", secondary="#F9FAFB", accent="#0EA5E9"),
        headline="Crème brûlée — 東京の夏祭り, Привет! Sale\U0001f525Now",
        cta="Réservez \u2192",
        logo=(120, 360),
        platform_format="tiktok",
        aspect_ratio="9:16",
    ),
    "story_square_long_square_logo": dict(
        style=BrandStyle(primary="#065F46", secondary="#111827", accent="#F472B6"),
        headline="Everything you need to know about our new loyalty programme, explained in under a minute",
        cta=None,
        logo=(256, 256),
        platform_format="story",
        aspect_ratio="1:1",
    ),
}


def _render(case: dict) -> Image.Image:
    width, height = output_size(case["aspect_ratio"])
    background = render_background(case["style"], width, height, seed="golden")
    still = compose_still(
        background,
        style=case["style"],
        headline=case["headline"],
        cta=case["cta"],
        logo_png=_logo(*case["logo"]),
        platform_format=case["platform_format"],
        aspect_ratio=case["aspect_ratio"],
    )
    assert still.size == (width, height)
    return still.resize((width // 4, height // 4), Image.Resampling.LANCZOS)


def _differences(actual: Image.Image, expected: Image.Image) -> tuple[float, float]:
    diff = ImageChops.difference(actual.convert("RGB"), expected.convert("RGB"))
    mean = sum(ImageStat.Stat(diff).mean) / 3
    visible = diff.filter(ImageFilter.BoxBlur(1)).convert("L").point(lambda v: 255 if v > VISIBLE // 2 else 0)
    changed = ImageStat.Stat(visible).mean[0] / 255
    return mean, changed


@pytest.mark.parametrize("name", sorted(CASES))
def test_still_matches_golden(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.png"
    actual = _render(CASES[name])
    if UPDATE or not path.exists():
        actual.save(path, format="PNG", optimize=True)
        if not UPDATE:
            pytest.fail(f"golden image {path.name} was missing and has been written; review and commit it")
        return
    expected = Image.open(path)
    assert expected.size == actual.size
    mean, changed = _differences(actual, expected)
    assert mean <= MAX_MEAN_DIFF and changed <= MAX_CHANGED_SHARE, (
        f"{name}: mean diff {mean:.2f} (max {MAX_MEAN_DIFF}), visibly changed {changed:.2%} "
        f"(max {MAX_CHANGED_SHARE:.0%}); if intended, regenerate with UPDATE_GOLDEN=1"
    )


def test_tolerance_catches_a_real_change() -> None:
    """The comparison is not vacuous: moving the headline or changing the brand colour fails it."""
    base = CASES["reel_short_cta_wide_logo"]
    golden = _render(base)
    other_text = _render({**base, "headline": "Winter menu is here"})
    other_colour = _render({**base, "style": BrandStyle(primary="#B91C1C", secondary="#9333EA", accent="#F59E0B")})
    for changed in (other_text, other_colour):
        mean, share = _differences(changed, golden)
        assert mean > MAX_MEAN_DIFF or share > MAX_CHANGED_SHARE
    assert _differences(golden, golden) == (0.0, 0.0)
