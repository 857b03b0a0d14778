"""compose_still: exact sizes, cover-crop, logo alpha, panel contrast."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from still_frame.render.background import render_background
from still_frame.render.brand import BrandStyle
from still_frame.render.composite import compose_still, cover_crop, encode_png, render_still
from still_frame.render.contrast import contrast_ratio
from still_frame.render.geometry import Box

LogoFactory = Callable[..., bytes]


def _stripes(size: tuple[int, int]) -> Image.Image:
    """Worst-case backdrop: hard black/white stripes."""
    img = Image.new("RGB", size, "black")
    draw = ImageDraw.Draw(img)
    for x in range(0, size[0], 40):
        draw.rectangle((x, 0, x + 19, size[1]), fill="white")
    return img


def _colors(img: Image.Image, box: Box) -> list[tuple[int, int, int]]:
    colors = img.crop(box.as_tuple()).getcolors(maxcolors=1 << 20)
    assert colors is not None
    return [c for _, c in colors]  # type: ignore[misc]


@pytest.mark.parametrize(("aspect", "size"), [("9:16", (1080, 1920)), ("1:1", (1080, 1080))])
@pytest.mark.parametrize("fmt", ["reel", "story", "tiktok"])
def test_exact_output_size(style: BrandStyle, aspect: str, size: tuple[int, int], fmt: str) -> None:
    bg = render_background(style, 720, 1280, seed="size")  # deliberately not the output size
    img = compose_still(
        bg, style=style, headline="Fresh drop", cta="Shop now", logo_png=None, platform_format=fmt, aspect_ratio=aspect
    )
    assert img.size == size
    assert img.mode == "RGB"


def test_default_aspect_is_vertical(style: BrandStyle) -> None:
    bg = render_background(style, 1080, 1920, seed="x")
    img = compose_still(bg, style=style, headline="Hi", cta=None, logo_png=None, platform_format="reel")
    assert img.size == (1080, 1920)


def test_cover_crop_never_stretches() -> None:
    # 300x100: red | green (middle 100 px) | blue. Covering 100x100 must keep only the green centre.
    bg = Image.new("RGB", (300, 100), "green")
    bg.paste((255, 0, 0), (0, 0, 100, 100))
    bg.paste((0, 0, 255), (200, 0, 300, 100))
    out = cover_crop(bg, 100, 100)
    assert out.size == (100, 100)
    assert out.getpixel((5, 50)) == out.getpixel((95, 50)) == (0, 128, 0)
    # Upscaling a small square to 9:16 keeps circles round: the crop is centred, scale uniform.
    square = Image.new("RGB", (100, 100), "white")
    ImageDraw.Draw(square).ellipse((25, 25, 75, 75), fill="black")
    tall = cover_crop(square, 90, 160)
    bbox = Image.eval(tall.convert("L"), lambda v: 255 - v).point(lambda v: 255 if v > 128 else 0).getbbox()
    assert bbox is not None
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    assert abs(w - h) <= 2


def test_cover_crop_does_not_modify_input() -> None:
    bg = Image.new("RGB", (1080, 1920), "blue")
    out = cover_crop(bg, 1080, 1920)
    out.paste((255, 0, 0), (0, 0, 10, 10))
    assert bg.getpixel((0, 0)) == (0, 0, 255)


def test_transparent_logo_leaves_pixels_untouched(style: BrandStyle, make_logo_png: LogoFactory) -> None:
    bg = render_background(style, 1080, 1920, seed="alpha")
    kwargs = {"style": style, "headline": "Big news", "cta": "Shop now", "platform_format": "reel"}
    without = render_still(bg, logo_png=None, **kwargs)  # type: ignore[arg-type]
    clear = render_still(bg, logo_png=make_logo_png(400, 100, rgba=(255, 0, 0, 0)), **kwargs)  # type: ignore[arg-type]
    assert clear.layout.logo is not None
    assert clear.layout.panel == without.layout.panel  # same text layout, so pixels are comparable
    assert clear.image.tobytes() == without.image.tobytes()


def test_opaque_and_translucent_logo(style: BrandStyle, make_logo_png: LogoFactory) -> None:
    bg = Image.new("RGB", (1080, 1920), (0, 0, 255))
    kwargs = {"style": style, "headline": "Big news", "cta": None, "platform_format": "story"}
    opaque = render_still(bg, logo_png=make_logo_png(300, 300, rgba=(255, 0, 0, 255)), **kwargs)  # type: ignore[arg-type]
    box = opaque.layout.logo
    assert box is not None
    assert opaque.image.getpixel((box.left + 3, box.top + 3)) == (255, 0, 0)
    assert opaque.image.getpixel((box.right + 5, box.top + 3)) == (0, 0, 255)  # nothing outside the box
    half = render_still(bg, logo_png=make_logo_png(300, 300, rgba=(255, 0, 0, 128)), **kwargs)  # type: ignore[arg-type]
    r, g, b = half.image.getpixel((box.left + 3, box.top + 3))  # type: ignore[misc]
    assert abs(r - 128) <= 2 and g == 0 and abs(b - 127) <= 2


@pytest.mark.parametrize(
    "backdrop",
    ["brand", "white", "black", "stripes", "mid-grey"],
)
@pytest.mark.parametrize("brand", ["#1E3A8A", "#FDE68A", "#777777"])
def test_panel_text_contrast_meets_aa(backdrop: str, brand: str) -> None:
    style = BrandStyle(primary=brand, secondary="#9333EA", accent="#F59E0B")
    size = (1080, 1920)
    bg = {
        "brand": lambda: render_background(style, *size, seed="contrast"),
        "white": lambda: Image.new("RGB", size, "white"),
        "black": lambda: Image.new("RGB", size, "black"),
        "stripes": lambda: _stripes(size),
        "mid-grey": lambda: Image.new("RGB", size, (119, 119, 119)),
    }[backdrop]()
    result = render_still(
        bg, style=style, headline="Contrast check", cta="Learn more", logo_png=None, platform_format="reel"
    )
    layout, panel = result.layout, result.panel
    assert panel.contrast >= 4.5 and panel.contrast_on_average >= 4.5
    # Measure the real pixels: the strip between the panel's top edge and the
    # headline (panel padding, no glyphs), away from the rounded corners.
    radius = round(1080 * 0.03)
    strip = Box(
        layout.panel.left + radius,
        layout.panel.top + radius // 2,
        layout.panel.right - radius,
        layout.headline.box.top - 2,
    )
    colors = _colors(result.image, strip)
    worst = min(contrast_ratio(panel.text_rgb, c) for c in colors)
    assert worst >= 4.5, (backdrop, brand, worst)
    # CTA text on its pill.
    assert result.cta_contrast is not None and result.cta_contrast >= 4.5
    assert result.cta_text_rgb is not None and result.cta_rgb is not None
    pill = layout.cta.box if layout.cta else None
    assert pill is not None
    assert result.image.getpixel((pill.left + pill.height // 2, pill.top + 3)) == result.cta_rgb


def test_headline_is_actually_drawn(style: BrandStyle) -> None:
    bg = render_background(style, 1080, 1920, seed="ink")
    result = render_still(bg, style=style, headline="INK TEST", cta=None, logo_png=None, platform_format="tiktok")
    line = result.layout.headline.lines[0].box
    assert result.panel.text_rgb in _colors(result.image, line)


@pytest.mark.parametrize(
    "headline",
    ["Café ☕ 東京 ünïcödé", "Zero\u200dwidth\ufe0f joiner", "a" * 300, "RTL שלום عربي"],
)
def test_unsupported_glyphs_do_not_crash(style: BrandStyle, headline: str) -> None:
    bg = render_background(style, 1080, 1080, seed="glyphs")
    img = compose_still(
        bg, style=style, headline=headline, cta="Go →", logo_png=None, platform_format="story", aspect_ratio="1:1"
    )
    assert img.size == (1080, 1080)


def test_undrawable_cta_is_dropped(style: BrandStyle) -> None:
    bg = render_background(style, 1080, 1920, seed="cta")
    result = render_still(
        bg, style=style, headline="Hi", cta="\U0001f449\U0001f449", logo_png=None, platform_format="reel"
    )
    assert result.layout.cta is None and result.cta_text is None
    kept = render_still(bg, style=style, headline="Hi", cta="Tap \U0001f449", logo_png=None, platform_format="reel")
    assert kept.cta_text == "Tap"


def test_errors(style: BrandStyle) -> None:
    bg = render_background(style, 1080, 1920, seed="err")
    with pytest.raises(ValueError, match="platform format"):
        compose_still(bg, style=style, headline="Hi", cta=None, logo_png=None, platform_format="youtube")
    with pytest.raises(ValueError, match="aspect ratio"):
        compose_still(
            bg, style=style, headline="Hi", cta=None, logo_png=None, platform_format="reel", aspect_ratio="4:5"
        )
    with pytest.raises(ValueError, match=r"^invalid logo: "):
        compose_still(bg, style=style, headline="Hi", cta=None, logo_png=b"nope", platform_format="reel")
    with pytest.raises(ValueError, match="headline"):
        compose_still(bg, style=style, headline="   ", cta=None, logo_png=None, platform_format="reel")


def test_rgba_background_is_flattened(style: BrandStyle) -> None:
    bg = Image.new("RGBA", (1080, 1920), (255, 0, 0, 0))
    img = compose_still(bg, style=style, headline="Hi", cta=None, logo_png=None, platform_format="reel")
    assert img.mode == "RGB" and img.getpixel((5, 5)) == (0, 0, 0)


def test_encode_png_roundtrip(style: BrandStyle) -> None:
    img = render_background(style, 1080, 1920, seed="png")
    data = encode_png(img)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == (1080, 1920) and decoded.mode == "RGB"
    assert decoded.tobytes() == img.tobytes()
    assert Image.open(io.BytesIO(encode_png(img.convert("L")))).mode == "RGB"


def test_headline_with_nothing_drawable_is_a_clear_error(style: BrandStyle) -> None:
    bg = render_background(style, 1080, 1080, seed="glyphs")
    with pytest.raises(ValueError, match="no characters the bundled fonts can draw"):
        compose_still(bg, style=style, headline="🚀🔥💯", cta=None, logo_png=None, platform_format="reel")
