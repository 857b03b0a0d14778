"""Brand style value object and hex colour parsing.

Colours travel through the pipeline as ``"#RRGGBB"`` strings (what brand
kits and the design API use); drawing code works with ``(r, g, b)`` tuples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RGB = tuple[int, int, int]

_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")


def parse_hex(color: str) -> RGB:
    """Parse ``"#RRGGBB"`` (case-insensitive) into an ``(r, g, b)`` tuple.

    Raises ``ValueError`` for anything else: short forms (``"#fff"``),
    missing ``#``, alpha (``"#RRGGBBAA"``), colour names or non-strings.
    """
    if not isinstance(color, str):
        raise ValueError(f"invalid colour {color!r}: expected a string like '#1A2B3C'")
    text = color.strip()
    if not _HEX_RE.fullmatch(text):
        raise ValueError(f"invalid colour {color!r}: expected '#RRGGBB' with 6 hex digits")
    return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))


def to_hex(rgb: RGB) -> str:
    """Format an ``(r, g, b)`` tuple as ``"#RRGGBB"``."""
    r, g, b = rgb
    for channel in rgb:
        if not 0 <= channel <= 255:
            raise ValueError(f"colour channel out of range in {rgb!r}")
    return f"#{r:02X}{g:02X}{b:02X}"


@dataclass(frozen=True, slots=True)
class BrandStyle:
    """The brand kit a still is rendered with.

    ``primary``/``secondary``/``accent`` are ``"#RRGGBB"`` strings and are
    validated on construction.  ``font_family`` is a hint for
    :func:`still_frame.render.fonts.load_font` (``None`` means the bundled
    default); ``tone`` is free text from the brand kit, carried along for
    callers, not interpreted here.
    """

    primary: str
    secondary: str
    accent: str
    font_family: str | None = None
    tone: str = ""

    def __post_init__(self) -> None:
        for name in ("primary", "secondary", "accent"):
            value = getattr(self, name)
            try:
                parse_hex(value)
            except ValueError as exc:
                raise ValueError(f"BrandStyle.{name}: {exc}") from None

    @property
    def primary_rgb(self) -> RGB:
        return parse_hex(self.primary)

    @property
    def secondary_rgb(self) -> RGB:
        return parse_hex(self.secondary)

    @property
    def accent_rgb(self) -> RGB:
        return parse_hex(self.accent)
