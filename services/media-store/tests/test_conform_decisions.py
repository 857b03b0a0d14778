"""The conform decision (pure): pass / remux / transcode from probed facts, geometry that never stretches."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from media_store.conform.deliverable import (
    AudioFacts,
    Box,
    SourceFacts,
    Unconformable,
    check_usable,
    decide,
    geometry,
)
from svd.deliverables import video_spec

SPEC = video_spec("9:16", 5, False)
AAC = AudioFacts("aac", "LC", 48_000, 2)
READY = SourceFacts(
    duration_s=5.0,
    width=1080,
    height=1920,
    sar=Fraction(1),
    codec="h264",
    profile="High",
    pix_fmt="yuv420p",
    fps=24.0,
    cfr=True,
    max_gop_s=2.0,
    colorspace="bt709",
    video_bitrate=8_000_000,
    faststart=True,
    audio=None,
)
GEN4_TURBO = replace(READY, width=720, height=1280, profile="Main", colorspace="", video_bitrate=3_000_000)


def test_the_deliverable_passes_unchanged() -> None:
    plan = decide(READY, SPEC, overlay=False)
    assert (plan.action, plan.video, plan.audio, plan.reasons) == ("pass", "copy", "none", ())
    assert decide(replace(READY, sar=Fraction(0), colorspace=""), SPEC, overlay=False).action == "pass"


def test_only_moov_at_the_end_is_a_remux() -> None:
    plan = decide(replace(READY, faststart=False), SPEC, overlay=False)
    assert (plan.action, plan.video, plan.audio) == ("remux", "copy", "none")


def test_provider_sound_on_a_silent_clip_is_dropped_by_a_remux() -> None:
    plan = decide(replace(READY, audio=AAC), SPEC, overlay=False)
    assert (plan.action, plan.video, plan.audio) == ("remux", "copy", "none")


def test_sound_is_kept_when_asked_for_and_re_encoded_unless_aac_lc_48k_stereo() -> None:
    with_sound = video_spec("9:16", 5, True)
    assert decide(replace(READY, audio=AAC), with_sound, overlay=False).action == "pass"
    plan = decide(replace(READY, audio=AudioFacts("aac", "LC", 44_100, 1)), with_sound, overlay=False)
    assert (plan.action, plan.video, plan.audio) == ("remux", "copy", "encode")
    assert decide(replace(GEN4_TURBO, audio=AAC), with_sound, overlay=False).audio == "encode"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"width": 720, "height": 1280}, "720x1280"),
        ({"codec": "hevc"}, "codec hevc"),
        ({"profile": "High 10", "pix_fmt": "yuv420p10le"}, "pixel format"),
        ({"fps": 29.97}, "frame rate 29.970"),
        ({"cfr": False}, "variable"),
        ({"max_gop_s": 10.0}, "keyframes 10.0 s apart"),
        ({"video_bitrate": 20_000_000}, "20.0 Mbps"),
        ({"colorspace": "smpte170m"}, "colour smpte170m"),
        ({"duration_s": 5.2}, "lasts 5.200 s"),
        ({"sar": Fraction(4, 3)}, "non-square"),
    ],
)
def test_anything_else_is_transcoded(change: dict[str, object], reason: str) -> None:
    plan = decide(replace(READY, **change), SPEC, overlay=False)  # type: ignore[arg-type]
    assert plan.action == "transcode" and plan.video == "encode"
    assert any(reason in r for r in plan.reasons), plan.reasons


def test_a_duration_within_a_frame_passes() -> None:
    assert decide(replace(READY, duration_s=5.0 + 1 / 24), SPEC, overlay=False).action == "pass"


def test_the_overlay_always_needs_the_pictures_re_encoded() -> None:
    plan = decide(READY, SPEC, overlay=True)
    assert plan.action == "transcode" and "the brand overlay is blended in" in plan.reasons


def test_frame_rate_kept_or_thirty_and_frame_count() -> None:
    assert (decide(GEN4_TURBO, SPEC, False).fps, decide(GEN4_TURBO, SPEC, False).frames) == (24, 120)
    ten = decide(replace(GEN4_TURBO, fps=60.0, duration_s=10.0), video_spec("9:16", 10, False), False)
    assert (ten.fps, ten.frames, ten.duration_s) == (30, 300, 10.0)


def test_geometry_scales_the_same_aspect() -> None:
    assert geometry(720, 1280, Fraction(1), 1080, 1920) == geometry(1080, 1920, Fraction(1), 1080, 1920)
    shape = geometry(720, 1280, Fraction(1), 1080, 1920)
    assert (shape.crop, shape.scale, shape.pad) == (None, (1080, 1920), None)


def test_geometry_crops_a_slightly_different_aspect() -> None:
    shape = geometry(720, 1248, Fraction(1), 1080, 1920)  # a little too wide: crop the sides
    assert shape.crop == Box(702, 1248, 9, 0) and shape.pad is None
    shape = geometry(768, 1408, Fraction(1), 1080, 1920)  # a little too tall: crop top and bottom
    assert shape.crop == Box(768, 1366, 0, 21) and shape.pad is None


def test_geometry_letterboxes_a_far_off_aspect_and_never_stretches() -> None:
    shape = geometry(1280, 720, Fraction(1), 1080, 1920)  # landscape into portrait: bars top and bottom
    assert shape.crop is None and shape.scale == (1080, 608) and shape.pad == Box(1080, 1920, 0, 656)
    shape = geometry(1024, 1024, Fraction(1), 1080, 1920)
    assert shape.scale == (1080, 1080) and shape.pad == Box(1080, 1920, 0, 420)
    shape = geometry(720, 1280, Fraction(1), 1080, 1080)  # portrait into square: pillarbox
    assert shape.scale == (608, 1080) and shape.pad == Box(1080, 1080, 236, 0)
    shape = geometry(540, 1280, Fraction(4, 3), 1080, 1920)  # anamorphic 720-wide picture: same aspect
    assert (shape.crop, shape.pad) == (None, None)


def test_a_clip_far_shorter_than_asked_is_unusable() -> None:
    check_usable(replace(READY, duration_s=4.96), SPEC, 0.8)
    with pytest.raises(Unconformable, match=r"lasts 0.50 s; a 5 s clip needs at least 4.0 s"):
        check_usable(replace(READY, duration_s=0.5), SPEC, 0.8)
