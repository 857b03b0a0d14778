"""Brand logos as untrusted bytes: checked from the header before any pixel is decoded (size limits also defuse
decompression bombs), then fully decoded to catch truncated files.

Shared by the dispatcher (`PutBrandAssets` refuses a bad logo at upload time) and the still-frame compositor (which
decodes it), so a logo accepted at upload always composites later.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

ALLOWED_FORMATS = frozenset({"PNG", "WEBP", "JPEG", "GIF"})
MAX_LOGO_BYTES = 20 * 1024 * 1024
MIN_LOGO_SIDE = 16
MAX_LOGO_SIDE = 8192
MAX_LOGO_ASPECT = 12.0
# A brand logo is drawn at most a few hundred pixels wide: 4 Mpx (e.g. 2000x2000) is plenty, and caps what an
# upload can make the dispatcher decode (RGBA: 16 MB) where the side limit alone would allow 67 Mpx (270 MB).
MAX_BRAND_LOGO_PIXELS = 4_000_000


def _open_checked(data: bytes, max_pixels: int | None = None) -> Image.Image:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"invalid logo: expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("invalid logo: empty data")
    if len(data) > MAX_LOGO_BYTES:
        raise ValueError(f"invalid logo: {len(data)} bytes exceeds {MAX_LOGO_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: Pillow raises many types
        raise ValueError(f"invalid logo: cannot decode image ({exc})") from None
    if img.format not in ALLOWED_FORMATS:
        raise ValueError(
            f"invalid logo: format {img.format!r} not supported (use one of {', '.join(sorted(ALLOWED_FORMATS))})"
        )
    w, h = img.size
    if min(w, h) < MIN_LOGO_SIDE:
        raise ValueError(f"invalid logo: {w}x{h} is too small (min side {MIN_LOGO_SIDE} px)")
    if max(w, h) > MAX_LOGO_SIDE:
        raise ValueError(f"invalid logo: {w}x{h} is too large (max side {MAX_LOGO_SIDE} px)")
    if max(w, h) / min(w, h) > MAX_LOGO_ASPECT:
        raise ValueError(f"invalid logo: {w}x{h} aspect ratio exceeds {MAX_LOGO_ASPECT:g}:1")
    if max_pixels is not None and w * h > max_pixels:
        raise ValueError(f"invalid logo: {w}x{h} has {w * h} pixels, more than the {max_pixels} allowed")
    return img


def _decode(data: bytes) -> Image.Image:
    return _load(_open_checked(data))


def _load(img: Image.Image) -> Image.Image:
    try:
        img.load()
        rgba = img.convert("RGBA")
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt pixel data, same boundary
        raise ValueError(f"invalid logo: corrupt image data ({exc})") from None
    return rgba


def validate_logo(png_bytes: bytes) -> tuple[int, int]:
    """Check that ``png_bytes`` is a usable logo and return its ``(width, height)``.

    Raises ``ValueError("invalid logo: ...")`` for undecodable data,
    unsupported formats, or absurd sizes/aspect ratios.
    """
    return _decode(png_bytes).size


def validate_brand_logo(png_bytes: bytes, max_pixels: int = MAX_BRAND_LOGO_PIXELS) -> tuple[int, int]:
    """The check for a brand kit's logo (``PutBrandAssets``): a PNG of at most ``max_pixels`` that this compositor
    can decode fully.

    Format and size come from the header, so an oversized or non-PNG upload is refused before any pixel is
    decoded; the limits are :func:`validate_logo`'s plus the pixel cap, so a logo accepted at upload time always
    composites later. CPU-bound for a large logo: call it off the event loop.
    """
    img = _open_checked(png_bytes, max_pixels)
    if img.format != "PNG":
        raise ValueError(f"invalid logo: expected a PNG, got {img.format}")
    return _load(img).size


def decode_logo(png_bytes: bytes) -> Image.Image:
    """Validate and decode a logo into an RGBA image (alpha preserved)."""
    return _decode(png_bytes)
