"""Output sizes per aspect ratio and per-platform safe zones, as data.

The safe zone of a platform format is the part of the frame that the app's
own UI (progress bar, account name, caption, audio ticker, like/comment/share
buttons, reply bar) does not cover, so the headline and logo stay visible.

Sources: the figures are the platforms' creator guidance for full-screen
9:16 video as reproduced in widely published safe-zone templates (Meta's
Instagram Reels/Stories "safe zone" guidance for creators and advertisers,
TikTok's creative-center / ads safe-zone overlays).  The UI differs per
device, app version and locale, so the numbers are deliberately rounded up
(conservative) rather than pixel-exact.  They are applied as fractions of
whatever frame is rendered; for a 1:1 frame this is stricter than needed,
which only costs some room, never visibility.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from svd.deliverables import FRAME_SIZES

from .geometry import Box


@dataclass(frozen=True, slots=True)
class FracRect:
    """A rectangle expressed in fractions (0..1) of the frame width and height."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.left < self.right <= 1.0 and 0.0 <= self.top < self.bottom <= 1.0):
            raise ValueError(f"invalid fractional rectangle {self!r}")


# Output pixel size per aspect ratio (width, height): the platform deliverable's frame (`svd.deliverables`).
OUTPUT_SIZES: Final = FRAME_SIZES

# Area where text and logo may go, per platform format.  Each entry lists the
# UI bands it avoids; numbers are fractions of the frame.
SAFE_ZONES: Final = MappingProxyType(
    {
        # Instagram Reels: top ~14% (camera/"Reels" header, progress),
        # bottom ~35% (caption, audio ticker, account row), ~6% side margins;
        # the right-hand action buttons sit inside the bottom band.
        "reel": FracRect(left=0.06, top=0.14, right=0.94, bottom=1.0 - 0.35),
        # Instagram Stories: top ~14% (progress bar, account name, close),
        # bottom ~20% (reply bar, stickers/links), ~6% side margins.
        "story": FracRect(left=0.06, top=0.14, right=0.94, bottom=1.0 - 0.20),
        # TikTok: top ~8% (Following/For You tabs), bottom ~28% (caption,
        # sound, account), right-hand ~12% column (like/comment/share/avatar),
        # ~5% left margin.
        "tiktok": FracRect(left=0.05, top=0.08, right=1.0 - 0.12, bottom=1.0 - 0.28),
    }
)

_EPS = 1e-9


def _normalize_format(platform_format: str) -> str:
    key = platform_format.strip().lower() if isinstance(platform_format, str) else ""
    if key not in SAFE_ZONES:
        allowed = ", ".join(sorted(SAFE_ZONES))
        raise ValueError(f"unknown platform format {platform_format!r}; expected one of: {allowed}")
    return key


def output_size(aspect_ratio: str) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of the still for an aspect ratio like ``"9:16"``."""
    key = aspect_ratio.strip() if isinstance(aspect_ratio, str) else ""
    if key not in OUTPUT_SIZES:
        allowed = ", ".join(OUTPUT_SIZES)
        raise ValueError(f"unsupported aspect ratio {aspect_ratio!r}; expected one of: {allowed}")
    return OUTPUT_SIZES[key]


def safe_zone(platform_format: str) -> FracRect:
    """The fractional safe rectangle of a platform format (``reel``, ``story``, ``tiktok``)."""
    return SAFE_ZONES[_normalize_format(platform_format)]


def safe_rect(format: str, width: int, height: int) -> Box:
    """Pixel box where text and logo may go for ``format`` in a ``width x height`` frame.

    Edges are rounded inwards so the box never reaches into a UI band.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    zone = safe_zone(format)
    return Box(
        left=math.ceil(zone.left * width - _EPS),
        top=math.ceil(zone.top * height - _EPS),
        right=math.floor(zone.right * width + _EPS),
        bottom=math.floor(zone.bottom * height + _EPS),
    )
