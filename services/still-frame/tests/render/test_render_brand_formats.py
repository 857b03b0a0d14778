"""Brand style parsing, output sizes and safe-zone data."""

from __future__ import annotations

import dataclasses

import pytest

from still_frame.render.brand import BrandStyle, parse_hex, to_hex
from still_frame.render.formats import OUTPUT_SIZES, SAFE_ZONES, output_size, safe_rect, safe_zone
from still_frame.render.geometry import Box


@pytest.mark.parametrize(
    ("text", "rgb"),
    [("#000000", (0, 0, 0)), ("#FFFFFF", (255, 255, 255)), ("#1e3a8A", (30, 58, 138)), (" #0a0B0c ", (10, 11, 12))],
)
def test_parse_hex_valid(text: str, rgb: tuple[int, int, int]) -> None:
    assert parse_hex(text) == rgb


@pytest.mark.parametrize("bad", ["", "#fff", "123456", "#12345G", "#1234567", "#12345678", "red", "#-12345"])
def test_parse_hex_invalid(bad: str) -> None:
    with pytest.raises(ValueError, match="#RRGGBB"):
        parse_hex(bad)


def test_parse_hex_non_string() -> None:
    with pytest.raises(ValueError, match="invalid colour"):
        parse_hex(0x123456)  # type: ignore[arg-type]


def test_to_hex_roundtrip() -> None:
    assert to_hex(parse_hex("#1E3A8A")) == "#1E3A8A"


def test_brand_style_validates_and_is_frozen() -> None:
    style = BrandStyle("#111111", "#222222", "#333333")
    assert style.font_family is None
    assert style.tone == ""
    assert style.accent_rgb == (0x33, 0x33, 0x33)
    with pytest.raises(dataclasses.FrozenInstanceError):
        style.primary = "#000000"  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"BrandStyle\.accent"):
        BrandStyle("#111111", "#222222", "orange")


def test_output_sizes() -> None:
    assert output_size("9:16") == (1080, 1920)
    assert output_size("1:1") == (1080, 1080)
    assert set(OUTPUT_SIZES) == {"9:16", "1:1"}
    with pytest.raises(ValueError, match="aspect ratio"):
        output_size("16:9")


def test_safe_zone_table_covers_the_three_formats() -> None:
    assert set(SAFE_ZONES) == {"reel", "story", "tiktok"}
    reel, story, tiktok = safe_zone("reel"), safe_zone("story"), safe_zone("tiktok")
    eps = 1e-9  # fractions are stored as floats
    assert reel.top >= 0.14 - eps and 1 - reel.bottom >= 0.35 - eps
    assert story.top >= 0.14 - eps and 1 - story.bottom >= 0.20 - eps
    assert tiktok.top >= 0.08 - eps and 1 - tiktok.bottom >= 0.28 - eps and 1 - tiktok.right >= 0.12 - eps


def test_safe_rect_reel_pixels() -> None:
    assert safe_rect("reel", 1080, 1920) == Box(65, 269, 1015, 1248)
    assert safe_rect("REEL ", 1080, 1920) == safe_rect("reel", 1080, 1920)


@pytest.mark.parametrize("fmt", sorted(SAFE_ZONES))
@pytest.mark.parametrize("size", sorted(OUTPUT_SIZES.values()))
def test_safe_rect_inside_frame(fmt: str, size: tuple[int, int]) -> None:
    w, h = size
    rect = safe_rect(fmt, w, h)
    assert Box(0, 0, w, h).contains(rect)
    assert rect.width > w / 2 and rect.height > h / 3


def test_safe_rect_unknown_format() -> None:
    with pytest.raises(ValueError, match="reel, story, tiktok"):
        safe_rect("youtube", 1080, 1920)
