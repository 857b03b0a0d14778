"""Logo validation and font loading / glyph coverage."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw, ImageFont

from still_frame.render.composite import validate_logo
from still_frame.render.fonts import FontSet, has_glyph, load_font, make_measurer, primary_path, renderable_text
from still_frame.render.logo import decode_logo, resize_logo, validate_brand_logo

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


def test_load_font_is_bundled_noto_sans_bold() -> None:
    font = load_font(64)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.size == 64
    assert font.getname() == ("Noto Sans", "Bold")  # variable font instanced at weight 700
    assert load_font(64, "Some Brand Sans").getname() == font.getname()  # not installed -> default
    assert load_font(64, "noto sans").getname() == font.getname()  # installed fontpkg family by name
    with pytest.raises(ValueError):
        load_font(0)


def test_brand_family_is_never_a_file_path() -> None:
    """Brand data must not make the service open files on the server."""
    assert primary_path("/etc/passwd") == primary_path(None)
    assert primary_path("../../fonts/Evil.ttf") == primary_path(None)


def test_measure_grows_with_text_and_size() -> None:
    measure = make_measurer()
    assert measure("Hello world", 40)[0] > measure("Hello world", 20)[0]
    assert measure("Hello world", 40)[0] > measure("Hello", 40)[0]
    assert measure("a", 40)[1] == measure("Ág", 40)[1]  # one line height per size for Latin text
    assert measure("", 40) == (0, measure("x", 40)[1])
    assert measure("東京", 40)[1] >= measure("x", 40)[1]


def test_glyph_coverage_and_fallbacks() -> None:
    fonts = FontSet(40)
    assert has_glyph(fonts.primary, "A") and has_glyph(fonts.primary, "Ж") and has_glyph(fonts.primary, "ệ")
    assert not has_glyph(fonts.primary, "\U0001f600")
    assert fonts.covers("東") and fonts.font_for("東") is not fonts.primary  # CJK fallback font
    # Accents and non-Latin scripts are kept; emoji dropped; CJK drawn by the fallback font.
    assert renderable_text("Café ☕ 東京 ünïcödé", fonts) == "Café 東京 ünïcödé"
    assert renderable_text("Привет, Ελλάδα, Việt Nam", fonts) == "Привет, Ελλάδα, Việt Nam"
    assert renderable_text("Hello — world\u200d\ufe0f", fonts) == "Hello — world"
    assert renderable_text("  tabs\tand\nnewlines  ", fonts) == "tabs and newlines"
    # A dropped emoji never glues two words together (and never leaves a box).
    assert renderable_text("Sale\U0001f525\ufe0fNow", fonts) == "Sale Now"
    assert renderable_text("\U0001f469\u200d\U0001f4bb dev \U0001f1eb\U0001f1f7", fonts) == "dev"
    # Nothing drawable left: empty, and the compositor reports it.
    assert renderable_text("🚀🔥", fonts) == ""


def test_runs_split_by_font() -> None:
    fonts = FontSet(40)
    runs = fonts.runs("Hi 東京 ok")
    assert [text for text, _ in runs] == ["Hi ", "東京 ", "ok"]
    assert runs[0][1] is fonts.primary and runs[1][1] is not fonts.primary and runs[2][1] is fonts.primary


def test_brand_logo_must_be_png(make_logo_png: LogoFactory) -> None:
    assert validate_brand_logo(make_logo_png(400, 100)) == (400, 100)
    with pytest.raises(ValueError, match=r"^invalid logo: expected a PNG, got WEBP"):
        validate_brand_logo(make_logo_png(400, 100, fmt="WEBP"))
    with pytest.raises(ValueError, match=r"^invalid logo: "):
        validate_brand_logo(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
