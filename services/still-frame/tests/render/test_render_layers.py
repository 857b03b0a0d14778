"""Fitting the generated image to the frame (crop or extend), and source / overlay / still from one layout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image, ImageChops, ImageDraw

from still_frame.render.background import render_background
from still_frame.render.brand import BrandStyle
from still_frame.render.composite import render_still
from still_frame.render.contrast import composite_over, contrast_ratio
from still_frame.render.framing import MIN_KEPT_SHARE, fit_mode, fit_to_frame, kept_share

LogoFactory = Callable[..., bytes]


def _disc(size: tuple[int, int], fill: str = "white") -> Image.Image:
    """A black disc centred on ``size``, with a red, a green, a light blue and a yellow square in the corners."""
    w, h = size
    img = Image.new("RGB", size, fill)
    r = min(w, h) // 4
    ImageDraw.Draw(img).ellipse((w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r), fill="black")
    s = min(w, h) // 10
    for colour, (x, y) in zip(
        ((255, 0, 0), (0, 255, 0), (0, 128, 255), (255, 255, 0)),
        ((0, 0), (w - s, 0), (0, h - s), (w - s, h - s)),
        strict=True,
    ):
        img.paste(colour, (x, y, x + s, y + s))
    return img


def _disc_box(img: Image.Image) -> tuple[int, int]:
    dark = img.convert("L").point(lambda v: 255 if v < 60 else 0)
    bbox = dark.getbbox()
    assert bbox is not None
    return bbox[2] - bbox[0], bbox[3] - bbox[1]


@pytest.mark.parametrize(
    ("source", "frame", "mode"),
    [
        ((1024, 1536), (1080, 1920), "crop"),  # gpt-image-1 portrait into 9:16 keeps 84 %
        ((1024, 1024), (1080, 1080), "crop"),
        ((1080, 1920), (1080, 1920), "crop"),
        ((1024, 1024), (1080, 1920), "extend"),  # a square into 9:16 would lose 44 %
        ((1536, 1024), (1080, 1920), "extend"),
        ((1024, 1536), (1080, 1080), "extend"),  # 2:3 into 1:1 would lose a third
    ],
)
def test_the_image_is_cropped_or_extended_to_the_exact_frame_never_stretched(
    source: tuple[int, int], frame: tuple[int, int], mode: str
) -> None:
    assert fit_mode(*source, *frame) == mode
    assert (kept_share(*source, *frame) >= MIN_KEPT_SHARE) is (mode == "crop")
    out = fit_to_frame(_disc(source), *frame)
    assert out.size == frame and out.mode == "RGB"
    if mode == "extend":  # measure inside the fitted image, not the blurred fill around it
        scale = min(frame[0] / source[0], frame[1] / source[1])
        fw, fh = round(source[0] * scale), round(source[1] * scale)
        inset = 2 + round(0.02 * max(frame))  # past the feathered seam
        left, top = (frame[0] - fw) // 2 + inset, (frame[1] - fh) // 2 + inset
        out = out.crop((left, top, left + fw - 2 * inset, top + fh - 2 * inset))
    w, h = _disc_box(out)
    assert abs(w - h) <= 3, (w, h)  # the disc stays round: one scale for both axes


def test_a_crop_is_centred_and_cuts_only_the_overflowing_sides() -> None:
    out = fit_to_frame(_disc((1024, 1536)), 1080, 1920)
    # 1024x1536 scales to 1280x1920: 100 px go on each side, so the corner squares (102 px wide) leave slivers.
    assert out.getpixel((0, 960)) == (255, 255, 255)
    red = out.getpixel((0, 0))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60


def test_an_extension_keeps_the_whole_image_and_fills_the_rest_with_it() -> None:
    source = _disc((1024, 1024))
    out = fit_to_frame(source, 1080, 1920)
    # The whole square is there, scaled to 1080x1080 and centred: all four corner markers are visible.
    top = (1920 - 1080) // 2
    for (x, y), colour in zip(
        ((20, top + 60), (1060, top + 60), (20, top + 1020), (1060, top + 1020)),
        ((255, 0, 0), (0, 255, 0), (0, 128, 255), (255, 255, 0)),
        strict=True,
    ):
        pixel = out.getpixel((x, y))
        assert isinstance(pixel, tuple)
        assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 40, ((x, y), pixel)
    # Above and below it: a blurred continuation of the image, not black bars.
    band = out.crop((0, 0, 1080, top - 40))
    assert min(v for v in band.convert("L").getextrema()) > 20  # type: ignore[operator]
    assert _disc_box(out) == _disc_box(source.resize((1080, 1080)))


def test_fitting_never_modifies_the_callers_image() -> None:
    source = _disc((1024, 1024))
    before = source.tobytes()
    fit_to_frame(source, 1080, 1920)
    fit_to_frame(source, 1080, 1080)
    assert source.tobytes() == before


def _layers(style: BrandStyle, logo: bytes | None, background: Image.Image, **kwargs: object):  # type: ignore[no-untyped-def]
    return render_still(
        background,
        style=style,
        headline=str(kwargs.get("headline", "Summer menu is here")),
        cta="Order now",
        logo_png=logo,
        platform_format="reel",
        aspect_ratio=str(kwargs.get("aspect_ratio", "9:16")),
    )


@pytest.mark.parametrize("aspect", ["9:16", "1:1"])
def test_source_overlay_and_still_come_from_one_layout(
    style: BrandStyle, make_logo_png: LogoFactory, aspect: str
) -> None:
    background = render_background(style, 1024, 1536, seed="layers")  # what gpt-image-1 answers
    result = _layers(style, make_logo_png(400, 160), background, aspect_ratio=aspect)
    frame = (1080, 1920) if aspect == "9:16" else (1080, 1080)
    assert result.source.size == result.overlay.size == result.image.size == frame
    assert (result.source.mode, result.overlay.mode, result.image.mode) == ("RGB", "RGBA", "RGB")
    # The source is the fitted image itself: no panel, no text, no logo.
    assert result.source.tobytes() == fit_to_frame(background, *frame).tobytes()
    # The still is exactly the overlay laid over the source.
    composed = Image.alpha_composite(result.source.convert("RGBA"), result.overlay).convert("RGB")
    assert result.image.tobytes() == composed.tobytes()
    # The overlay is transparent outside the panel and the logo, and holds them inside.
    layout = result.layout
    assert layout.logo is not None
    alpha = result.overlay.getchannel("A")
    outside = Image.new("L", frame, 255)
    for box in (layout.panel, layout.logo):
        outside.paste(0, box.as_tuple())
    assert ImageChops.multiply(alpha, outside).getbbox() is None
    panel_alpha = alpha.crop(layout.panel.as_tuple()).getextrema()
    assert panel_alpha[0] >= 0 and panel_alpha[1] == 255  # type: ignore[index]
    centre = (layout.panel.left + layout.panel.width // 2, layout.panel.top + 4)
    assert alpha.getpixel(centre) == result.panel.alpha
    assert alpha.crop(layout.logo.as_tuple()).getextrema()[1] == 255  # type: ignore[index]


def test_text_is_only_in_the_overlay(style: BrandStyle) -> None:
    background = render_background(style, 1080, 1920, seed="text")
    one = _layers(style, None, background, headline="First headline")
    two = _layers(style, None, background, headline="Another one entirely")
    assert one.source.tobytes() == two.source.tobytes()
    assert one.overlay.tobytes() != two.overlay.tobytes()


@pytest.mark.parametrize("primary", ["#000000", "#FFFFFF", "#FFFF00", "#1E3A8A", "#777777", "#DC2626"])
@pytest.mark.parametrize("under", ["black", "white", "mid-grey"])
def test_the_panel_stays_legible_whatever_the_animation_moves_under_it(primary: str, under: str) -> None:
    # The overlay is laid over every animated frame, not only the first: its text must meet WCAG AA over any
    # backdrop, so the chosen panel is checked over pure black and pure white, whatever it was chosen against.
    style = BrandStyle(primary=primary, secondary="#9333EA", accent="#F59E0B")
    colour = {"black": (0, 0, 0), "white": (255, 255, 255), "mid-grey": (119, 119, 119)}[under]
    result = _layers(style, None, Image.new("RGB", (1080, 1920), colour))
    for backdrop in ((0, 0, 0), (255, 255, 255)):
        panel_over = composite_over(result.panel.rgb, result.panel.alpha / 255, backdrop)
        assert contrast_ratio(result.panel.text_rgb, panel_over) >= 4.5, (primary, under, backdrop)
