"""What to do with a provider's file, decided from its probed facts alone (pure: no I/O).

`decide` compares the facts with the deliverable (`svd.deliverables`) and answers one of three plans:

- `pass`: already the deliverable (H.264 Main/High 4:2:0, the target size, square pixels, a kept constant frame rate,
  keyframes at most `MAX_GOP_S` apart, at most the bit-rate ceiling, not tagged with another colour standard, the
  requested duration within a frame, `moov` first, and the right sound): the bytes are stored unchanged.
- `remux`: the video is right but the container or sound is not (`moov` after `mdat`; provider sound on a silent
  deliverable; sound that is not AAC-LC 48 kHz stereo): video packets are copied unchanged, sound dropped, copied or
  re-encoded.
- `transcode`: the video itself is re-encoded (size, codec, rate, duration, or a brand overlay to blend in).

`geometry` fits a source frame into the target without ever stretching: the same aspect is scaled; a slightly
different one is cropped (at most `MAX_CROP` of the picture); anything further off is letterboxed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from svd import deliverables
from svd.deliverables import VideoSpec

PASS_PROFILES = frozenset({"Main", "High"})
MAX_GOP_S = 5.0  # what Facebook Reels accept (closed GOP 2-5 s); our own encodes use 2 s
MAX_CROP = 0.10  # the largest share of the picture cropped away to fix an aspect; beyond it, letterbox
OTHER_COLOUR = frozenset({"bt470bg", "smpte170m", "bt2020nc", "bt2020c", "smpte240m"})
Action = Literal["pass", "remux", "transcode"]
VideoAction = Literal["copy", "encode"]
AudioAction = Literal["none", "copy", "encode"]


class Unconformable(ValueError):
    """The provider's file cannot be made into the deliverable."""


@dataclass(frozen=True)
class AudioFacts:
    codec: str
    profile: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class SourceFacts:
    """What the probe found in a file (only what the decision needs)."""

    duration_s: float
    width: int
    height: int
    sar: Fraction
    codec: str
    profile: str
    pix_fmt: str
    fps: float
    cfr: bool
    max_gop_s: float
    colorspace: str
    video_bitrate: int
    faststart: bool
    audio: AudioFacts | None


@dataclass(frozen=True)
class Box:
    width: int
    height: int
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Geometry:
    """Crop the source (in source pixels) to `crop`, scale to `scale`, then pad to the target at (`pad.x`, `pad.y`)."""

    crop: Box | None
    scale: tuple[int, int]
    pad: Box | None


@dataclass(frozen=True)
class Plan:
    action: Action
    reasons: tuple[str, ...]
    video: VideoAction
    audio: AudioAction
    width: int
    height: int
    fps: int
    frames: int
    geometry: Geometry

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def _even(value: Fraction | float) -> int:
    return max(2, round(value / 2) * 2)


def geometry(src_w: int, src_h: int, sar: Fraction, dst_w: int, dst_h: int) -> Geometry:
    """How a `src_w`x`src_h` picture (pixel aspect `sar`) becomes `dst_w`x`dst_h` without being stretched."""
    display_w = src_w * sar
    src_aspect = Fraction(display_w) / src_h
    dst_aspect = Fraction(dst_w, dst_h)
    if src_aspect == dst_aspect:
        return Geometry(None, (dst_w, dst_h), None)
    if src_aspect > dst_aspect:  # too wide: crop the sides, or letterbox top and bottom
        kept = dst_aspect / src_aspect
        if 1 - kept <= MAX_CROP:
            width = _even(src_w * kept)
            return Geometry(Box(width, src_h, (src_w - width) // 2, 0), (dst_w, dst_h), None)
        height = _even(dst_w / src_aspect)
        return Geometry(None, (dst_w, height), Box(dst_w, dst_h, 0, (dst_h - height) // 2))
    kept = src_aspect / dst_aspect  # too tall: crop top and bottom, or pillarbox
    if 1 - kept <= MAX_CROP:
        height = _even(src_h * kept)
        return Geometry(Box(src_w, height, 0, (src_h - height) // 2), (dst_w, dst_h), None)
    width = _even(dst_h * src_aspect)
    return Geometry(None, (width, dst_h), Box(dst_w, dst_h, (dst_w - width) // 2, 0))


def check_usable(facts: SourceFacts, spec: VideoSpec, min_coverage: float) -> None:
    """Raise `Unconformable` for a file too short to become the requested clip (a provider fault, never padded)."""
    needed = spec.duration_seconds * min_coverage
    if facts.duration_s < needed:
        raise Unconformable(
            f"the provider's video lasts {facts.duration_s:.2f} s; a {spec.duration_seconds} s clip needs at least "
            f"{needed:.1f} s of it"
        )
    if facts.width < 2 or facts.height < 2:
        raise Unconformable(f"the provider's video has no usable frame size ({facts.width}x{facts.height})")


def _video_reasons(facts: SourceFacts, spec: VideoSpec, fps: int, overlay: bool) -> list[str]:
    reasons = []
    if overlay:
        reasons.append("the brand overlay is blended in")
    if facts.codec != deliverables.CODEC or facts.profile not in PASS_PROFILES:
        reasons.append(f"codec {facts.codec} {facts.profile}")
    if facts.pix_fmt != deliverables.PIX_FMT:
        reasons.append(f"pixel format {facts.pix_fmt}")
    if (facts.width, facts.height) != (spec.width, spec.height):
        reasons.append(f"{facts.width}x{facts.height}, not {spec.width}x{spec.height}")
    if facts.sar not in (0, 1):
        reasons.append(f"non-square pixels ({facts.sar})")
    if not facts.cfr or abs(facts.fps - fps) > deliverables.FPS_TOLERANCE:
        reasons.append(f"frame rate {facts.fps:.3f}{'' if facts.cfr else ' (variable)'}")
    if facts.max_gop_s > MAX_GOP_S:
        reasons.append(f"keyframes {facts.max_gop_s:.1f} s apart")
    ceiling = deliverables.bitrate_for(spec.width, spec.height)[1]
    if facts.video_bitrate > ceiling:
        reasons.append(f"{facts.video_bitrate / 1e6:.1f} Mbps, over {ceiling / 1e6:.0f}")
    if facts.colorspace in OTHER_COLOUR:
        reasons.append(f"colour {facts.colorspace}")
    if abs(facts.duration_s - spec.duration_seconds) > 1 / fps + 1e-6:
        reasons.append(f"lasts {facts.duration_s:.3f} s, not {spec.duration_seconds}")
    return reasons


def _audio_ok(audio: AudioFacts) -> bool:
    return (
        audio.codec == deliverables.AUDIO_CODEC
        and audio.profile == deliverables.AUDIO_PROFILE
        and audio.sample_rate == deliverables.AUDIO_RATE
        and audio.channels == deliverables.AUDIO_CHANNELS
    )


def decide(facts: SourceFacts, spec: VideoSpec, overlay: bool) -> Plan:
    """The plan that turns a file with `facts` into the deliverable `spec` (with the brand overlay if `overlay`)."""
    fps = deliverables.target_fps(facts.fps)
    frames = spec.duration_seconds * fps
    reasons = _video_reasons(facts, spec, fps, overlay)
    video: VideoAction = "encode" if reasons else "copy"
    audio: AudioAction = "none"
    if facts.audio is not None and not spec.with_audio:
        reasons.append("the provider's sound is dropped (a silent clip was asked for)")
    elif facts.audio is not None:
        audio = "copy" if video == "copy" and _audio_ok(facts.audio) else "encode"
        if audio == "encode":
            reasons.append(f"sound re-encoded to AAC-LC 48 kHz stereo (was {facts.audio.codec})")
    if not facts.faststart:
        reasons.append("moov after mdat")
    action: Action = "transcode" if video == "encode" else "remux" if reasons else "pass"
    shape = geometry(facts.width, facts.height, facts.sar or Fraction(1), spec.width, spec.height)
    return Plan(action, tuple(reasons), video, audio, spec.width, spec.height, fps, frames, shape)
