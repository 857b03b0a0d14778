"""Logo handling for the compositor: validation and decoding (shared with the dispatcher, in `svd.logos`) and
alpha-correct resizing: done on premultiplied alpha so transparent edges do not pick up dark fringes.
"""

from __future__ import annotations

from PIL import Image

from svd.logos import (
    ALLOWED_FORMATS,
    MAX_LOGO_ASPECT,
    MAX_LOGO_BYTES,
    MAX_LOGO_SIDE,
    MIN_LOGO_SIDE,
    decode_logo,
    validate_brand_logo,
    validate_logo,
)

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_LOGO_ASPECT",
    "MAX_LOGO_BYTES",
    "MAX_LOGO_SIDE",
    "MIN_LOGO_SIDE",
    "decode_logo",
    "resize_logo",
    "validate_brand_logo",
    "validate_logo",
]


def resize_logo(logo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize an RGBA logo to ``size`` with premultiplied alpha (no dark halos)."""
    if logo.size == size:
        return logo.convert("RGBA")
    premultiplied = logo.convert("RGBA").convert("RGBa")
    return premultiplied.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
