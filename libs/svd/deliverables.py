"""The platform deliverable, as data: frame size per aspect ratio, frame-rate policy, GOP, bitrate and audio.

One place says what every stored video is (still-frame lays its still and overlay out on `frame_size`, media-store
conforms every provider output to `video_spec`). The figures follow what Instagram/Facebook Reels, TikTok and
YouTube Shorts accept as they are: H.264 High, 4:2:0, BT.709, square pixels, constant 23-60 fps, closed GOP of
2-5 s, `moov` first, about 8 Mbps at 1080p, AAC-LC 48 kHz stereo when there is sound.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Final

# Output pixel size per aspect ratio (width, height).
FRAME_SIZES: Final = MappingProxyType({"9:16": (1080, 1920), "1:1": (1080, 1080)})
DEFAULT_ASPECT_RATIO: Final = "9:16"

# Frame rates kept as the provider rendered them; anything else is converted to `FALLBACK_FPS`.
KEPT_FPS: Final = (24, 25, 30)
FALLBACK_FPS: Final = 30
# How far a measured rate may be from a kept one and still count as it (29.97 is not 30: it is converted).
FPS_TOLERANCE: Final = 0.01

GOP_SECONDS: Final = 2
CODEC: Final = "h264"
PROFILE: Final = "High"
PIX_FMT: Final = "yuv420p"
COLOR: Final = "bt709"
# Video bitrate per 1080-wide frame area (scaled by pixel count for other sizes): a target, a ceiling and a
# floor under which a provider's file is treated as too starved to pass through unchanged.
BITRATE_1080P: Final = 8_000_000
MAX_BITRATE_1080P: Final = 12_000_000
MIN_BITRATE_1080P: Final = 2_000_000
_PIXELS_1080P: Final = 1080 * 1920

AUDIO_CODEC: Final = "aac"
AUDIO_PROFILE: Final = "LC"
AUDIO_RATE: Final = 48_000
AUDIO_CHANNELS: Final = 2
AUDIO_BITRATE: Final = 128_000


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """Pixel size `(width, height)` of the deliverable for an aspect ratio like `"9:16"` (empty: the default)."""
    key = (aspect_ratio.strip() if isinstance(aspect_ratio, str) else "") or DEFAULT_ASPECT_RATIO
    if key not in FRAME_SIZES:
        allowed = ", ".join(FRAME_SIZES)
        raise ValueError(f"unsupported aspect ratio {aspect_ratio!r}; expected one of: {allowed}")
    return FRAME_SIZES[key]


def target_fps(source_fps: float) -> int:
    """The deliverable's constant frame rate for a source at `source_fps`: 24, 25 or 30 kept, anything else 30."""
    for fps in KEPT_FPS:
        if abs(source_fps - fps) <= FPS_TOLERANCE:
            return fps
    return FALLBACK_FPS


def bitrate_for(width: int, height: int) -> tuple[int, int, int]:
    """(target, ceiling, floor) video bitrate in bit/s for a `width` x `height` frame."""
    scale = Fraction(width * height, _PIXELS_1080P)
    return (
        int(BITRATE_1080P * scale),
        int(MAX_BITRATE_1080P * scale),
        int(MIN_BITRATE_1080P * scale),
    )


@dataclass(frozen=True)
class VideoSpec:
    """What one stored video must be."""

    width: int
    height: int
    duration_seconds: int
    with_audio: bool

    @property
    def aspect(self) -> Fraction:
        return Fraction(self.width, self.height)


def video_spec(aspect_ratio: str, duration_seconds: int, with_audio: bool) -> VideoSpec:
    """The deliverable for a job's requested aspect ratio, duration (5 or 10 s) and sound."""
    width, height = frame_size(aspect_ratio)
    return VideoSpec(width, height, duration_seconds, with_audio)
