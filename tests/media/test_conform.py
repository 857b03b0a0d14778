"""The conform step on the real stack: every provider output is stored as the platform deliverable.

A file that already is the deliverable is stored byte for byte; one that only has `moov` at the end, or sound on a
silent clip, is remuxed with its video packets unchanged; anything else is transcoded (size, rate, duration, sound,
brand overlay). A file that cannot become the deliverable fails the job at `storing` and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageDraw

from media_store.conform.inspect import box_order
from social_video.v1 import media_pb2, pipeline_pb2
from tests.media.harness import MediaHarness
from tests.media.mp4s import small_mp4
from tests.media.servers import SourceServer
from tests.media.test_bad_sources import assert_failed_cleanly

PANEL = (120, 200, 960, 420)  # where the overlay's opaque panel sits (x0, y0, x1, y1) on the 1080x1080 frame
PANEL_RGB = (250, 200, 30)


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def downloaded(harness: MediaHarness, key: str, path: Path) -> Path:
    harness.s3.download_file(harness.bucket, key, str(path))
    return path


async def stored_video(harness: MediaHarness, ref: pipeline_pb2.JobRef) -> tuple[Any, media_pb2.MediaRecord]:
    outcome = await harness.outcome(ref.job_id, timeout_s=240)
    assert outcome.stored is not None, outcome.failed
    videos = [m for m in await harness.media(ref) if m.media_type == "social_video"]
    assert len(videos) == 1
    return outcome.stored, videos[0]


def file_facts(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
    assert stream.time_base is not None and stream.duration is not None
    return {
        "codec": ctx.name,
        "profile": ctx.profile,
        "pix_fmt": ctx.pix_fmt,
        "size": (ctx.width, ctx.height),
        "fps": float(stream.average_rate or 0),
        "duration": float(stream.duration * stream.time_base),
        "steps": {b - a for a, b in pairwise(pts)},
        "audio": len(container.streams.audio),
    }


async def test_a_conformant_file_is_stored_byte_for_byte(
    harness: MediaHarness, source: SourceServer, small_video: Path, tmp_path: Path
) -> None:
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("conformant.mp4", small_video))
    stored, video = await stored_video(harness, ref)
    copy = downloaded(harness, stored.object_key, tmp_path / "stored.mp4")
    original = small_video.read_bytes()  # noqa: ASYNC240
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(original).digest()
    assert (video.width, video.height, video.fps, video.codec, video.has_audio) == (1080, 1920, 24.0, "h264", False)
    assert video.bitrate == pytest.approx(len(original) * 8 / 5.0, rel=0.01)
    assert set(harness.objects(ref)) == {stored.object_key, stored.object_key.removesuffix(".mp4") + "-poster.jpg"}


async def test_a_file_without_faststart_is_remuxed_with_its_video_packets_unchanged(
    harness: MediaHarness, source: SourceServer, videos: Path, tmp_path: Path
) -> None:
    late_moov = small_mp4(videos / "late-moov.mp4", seconds=5, width=1080, height=1920, deliverable=True)
    assert box_order(io.FileIO(late_moov), late_moov.stat().st_size).index(b"moov") > 0
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("late-moov.mp4", late_moov))
    stored, _ = await stored_video(harness, ref)
    copy = downloaded(harness, stored.object_key, tmp_path / "stored.mp4")
    order = box_order(io.FileIO(copy), copy.stat().st_size)
    assert order.index(b"moov") < order.index(b"mdat")
    assert video_packets(copy) == video_packets(late_moov)


async def test_provider_sound_is_dropped_from_a_silent_clip(
    harness: MediaHarness, source: SourceServer, videos: Path, tmp_path: Path
) -> None:
    noisy = small_mp4(
        videos / "noisy.mp4", seconds=5, width=1080, height=1920, faststart=True, deliverable=True, audio_hz=44100
    )
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("noisy.mp4", noisy), with_audio=False)
    stored, video = await stored_video(harness, ref)
    copy = downloaded(harness, stored.object_key, tmp_path / "stored.mp4")
    assert file_facts(copy)["audio"] == 0 and not video.has_audio
    assert video_packets(copy) == video_packets(noisy)  # remuxed, not re-encoded


async def test_a_half_second_clip_fails_at_storing_and_leaves_nothing(
    harness: MediaHarness, source: SourceServer, videos: Path
) -> None:
    blip = small_mp4(videos / "blip.mp4", seconds=0.5, width=360, height=640, faststart=True)
    ref = harness.new_ref()
    await harness.publish_ready(ref, source.add("blip.mp4", blip))
    await assert_failed_cleanly(harness, ref, "lasts 0.50 s", "5 s clip")


def overlay_png() -> bytes:
    layer = Image.new("RGBA", (1080, 1080), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle(PANEL, fill=(*PANEL_RGB, 255))
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    return buffer.getvalue()


def frame_at(path: Path, index: int) -> Image.Image:
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_image()
    raise AssertionError(f"no frame {index}")


async def test_a_small_clip_is_transcoded_to_the_deliverable_with_the_overlay_blended(
    harness: MediaHarness, source: SourceServer, videos: Path, tmp_path: Path
) -> None:
    """360x360 at 30 fps, 4.6 s, mono 44.1 kHz sound → 1080x1080 H.264 High 30 fps CFR, 5 s (the last frame held),
    AAC-LC 48 kHz stereo, `moov` first, the overlay's panel on every frame; poster and record match the file."""
    clip = small_mp4(videos / "square.mp4", seconds=4.6, width=360, height=360, rate=30, audio_hz=44100)
    ref = harness.new_ref()
    overlay_key = f"tenants/{ref.tenant_id}/social-videos/{ref.social_post_id}/stills/{ref.job_id}-1-overlay.png"
    harness.s3.put_object(Bucket=harness.bucket, Key=overlay_key, Body=overlay_png(), ContentType="image/png")
    await harness.publish_ready(
        ref, source.add("square.mp4", clip), aspect_ratio="1:1", with_audio=True, overlay_key=overlay_key
    )
    stored, video = await stored_video(harness, ref)
    copy = downloaded(harness, stored.object_key, tmp_path / "stored.mp4")

    facts = file_facts(copy)
    assert (facts["codec"], facts["profile"], facts["pix_fmt"], facts["size"]) == (
        "h264",
        "High",
        "yuv420p",
        (1080, 1080),
    )
    assert facts["fps"] == 30.0 and len(facts["steps"]) == 1  # constant frame rate
    assert abs(facts["duration"] - 5.0) <= 1 / 30 + 1e-6
    order = box_order(io.FileIO(copy), copy.stat().st_size)
    assert order.index(b"moov") < order.index(b"mdat") and b"elst" not in copy.read_bytes()[:4096]
    with av.open(str(copy)) as container:
        audio = container.streams.audio[0].codec_context
        assert (audio.name, audio.profile, audio.sample_rate, audio.channels) == ("aac", "LC", 48000, 2)
        keyframes = [p.pts * p.time_base for p in container.demux(video=0) if p.is_keyframe]
        colour = container.streams.video[0].codec_context.color_primaries
    assert keyframes == [Fraction(0), Fraction(2), Fraction(4)] and colour == 1  # 2 s GOP, BT.709

    assert (video.width, video.height, video.fps, video.codec, video.has_audio) == (1080, 1080, 30.0, "h264", True)
    assert (video.source_width, video.source_height, video.source_fps) == (360, 360, 30.0)
    assert abs(video.duration_seconds - facts["duration"]) < 1e-3 and video.size_bytes == copy.stat().st_size
    assert video.bitrate == int(video.size_bytes * 8 / video.duration_seconds)
    poster = next(m for m in await harness.media(ref) if m.media_type == "social_poster")
    assert (poster.width, poster.height) == (1080, 1080)
    jpeg = harness.s3.get_object(Bucket=harness.bucket, Key=poster.object_key)["Body"].read()
    assert Image.open(io.BytesIO(jpeg)).size == (1080, 1080)

    middle = ((PANEL[0] + PANEL[2]) // 2, (PANEL[1] + PANEL[3]) // 2)
    for index in (0, 149):
        frame = frame_at(copy, index)
        assert all(abs(a - b) <= 6 for a, b in zip(frame.getpixel(middle), PANEL_RGB, strict=True)), index
        assert frame.getpixel((540, 900)) != frame.getpixel(middle)  # the clip shows outside the panel
    assert not any(key.endswith("-original.mp4") for key in harness.objects(ref))
