"""Logo validation and font loading / glyph coverage."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw, ImageFont

from still_frame.render.composite import validate_logo
from still_frame.render.fonts import has_glyph, load_font, make_measurer, renderable_text
from still_frame.render.logo import decode_logo, resize_logo

LogoFactory = Callable[..., bytes]


def _png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width x height`` (pixels never decoded)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8 + 8  # signature + chunk length/type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize(("size", "fmt"), [((400, 100), "PNG"), ((100, 400), "WEBP"), ((64, 64), "JPEG")])
def test_validate_logo_ok(make_logo_png: LogoFactory, size: tuple[int, int], fmt: str) -> None:
    assert validate_logo(make_logo_png(*size, fmt=fmt)) == size


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
    ],
)
def test_validate_logo_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^invalid logo: "):
        validate_logo(data)


def test_validate_logo_truncated(make_logo_png: LogoFactory) -> None:
    noisy = Image.effect_noise((300, 300), 80).convert("RGBA")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    with pytest.raises(ValueError, match=r"^invalid logo: "):
        validate_logo(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("size", [(8, 8), (2000, 100), (100000, 100000), (9000, 4000)])
def test_validate_logo_absurd_sizes(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"^invalid logo: .*(too small|too large|aspect|decompression bomb)"):
        validate_logo(_png_with_header_size(*size))


def test_validate_logo_rejects_unsupported_format() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="BMP")
    with pytest.raises(ValueError, match=r"^invalid logo: format"):
        validate_logo(buffer.getvalue())


def test_decode_keeps_alpha_and_resize_has_no_dark_fringe() -> None:
    img = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    ImageDraw.Draw(img).ellipse((20, 20, 180, 180), fill=(255, 255, 255, 255))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    logo = decode_logo(buffer.getvalue())
    assert logo.mode == "RGBA" and logo.getpixel((0, 0)) == (255, 255, 255, 0)
    small = resize_logo(logo, (37, 37))
    assert small.size == (37, 37)
    for x in range(37):  # semi-transparent edge pixels stay white, not grey
        r, g, b, a = small.getpixel((x, 18))  # type: ignore[misc]
        if a > 10:
            assert min(r, g, b) >= 245


def test_load_font_default_is_scalable() -> None:
    font = load_font(64)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.size == 64
    assert load_font(64, "Some Brand Sans").getname() == font.getname()  # unknown family -> default
    with pytest.raises(ValueError):
        load_font(0)


def test_load_font_from_path() -> None:
    path = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    if not os.path.isfile(path):
        pytest.skip("no TTF available to test the swap-in path")
    assert load_font(40, path).getname()[0] == "DejaVu Sans"


def test_measure_grows_with_text_and_size() -> None:
    measure = make_measurer()
    assert measure("Hello world", 40)[0] > measure("Hello", 40)[0]
    assert measure("Hello", 80)[0] > measure("Hello", 40)[0]
    assert measure("a", 40)[1] == measure("Ág", 40)[1]  # one line height per size
    assert measure("", 40) == (0, measure("x", 40)[1])


def test_glyph_coverage_and_fallbacks() -> None:
    font = load_font(40)
    assert has_glyph(font, "A")
    assert not has_glyph(font, "\U0001f600")
    assert renderable_text("Café ☕ 東京 ünïcödé", font) == "Cafe unicode"
    assert renderable_text("Hello — world\u200d\ufe0f", font) == "Hello - world"
    assert renderable_text("  tabs\tand\nnewlines  ", font) == "tabs and newlines"
    # Nothing drawable left: keep the original rather than an empty headline.
    assert renderable_text("🚀🔥", font) == "🚀🔥"
