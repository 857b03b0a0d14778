"""Platform-ready deliverables through the whole stack: what the simulator's models render (720x1280 at 24 fps for
gen4_turbo, 960x960 for a square clip) is stored as the platform's deliverable — H.264 High, yuv420p, the exact frame
size, constant frame rate, the requested duration within a frame, `moov` before `mdat` — with a poster of the same
size and a Media record that describes the file; and with `TEXT_OVERLAY=baked` the brand text moves with the scene."""

from __future__ import annotations

import io
import signal
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops

from social_video.v1 import common_pb2 as c
from svd.ids import short_id
from svd.keys import poster_key
from svd_stack.client import StackClient, copy_approved
from tests.conftest import RunningStack

# (platform, format, duration, aspect) → the deliverable's frame size.
DELIVERABLES = [
    pytest.param("instagram", "reel", 5, "9:16", (1080, 1920), id="instagram-reel-5s"),
    pytest.param("tiktok", "tiktok", 10, "9:16", (1080, 1920), id="tiktok-10s"),
    pytest.param("facebook", "reel", 5, "1:1", (1080, 1080), id="facebook-square-reel-5s"),
]


def _top_level_boxes(data: bytes) -> Iterator[str]:
    """The MP4's top-level box types, in file order (ISO BMFF: 32-bit size, type; size 1 = 64-bit size follows)."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        yield kind.decode("latin-1")
        offset += size


async def _approve_and_finish(client: StackClient, approval_kwargs: dict, tenant: str) -> tuple[str, object]:
    post = f"p-{short_id(8)}"
    await client.put_brand(tenant)
    await client.grant(tenant, 100, f"grant-{tenant}-{post}")
    await client.publish_upstream(
        "social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}", **approval_kwargs)
    )
    job = await client.find_job(tenant, post)
    _ = [update async for update in client.watch(job.job_id)]
    return post, await client.get_job(job.job_id)


@pytest.mark.parametrize(("platform", "platform_format", "duration", "aspect", "size"), DELIVERABLES)
async def test_each_format_is_stored_as_the_platform_deliverable(
    stack: RunningStack, tmp_path: Path, platform: str, platform_format: str, duration: int, aspect: str, size: tuple
) -> None:
    client = StackClient(stack.info)
    bucket = stack.info["s3_bucket"]
    tenant = f"t-{short_id(8)}"
    approval = {"platform": platform, "platform_format": platform_format, "duration_seconds": duration}
    try:
        if aspect == "1:1":
            approval["aspect_ratio"] = aspect
        post, job = await _approve_and_finish(client, approval, tenant)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error

        data = client.s3().get_object(Bucket=bucket, Key=job.object_key)["Body"].read()
        boxes = list(_top_level_boxes(data))
        assert boxes.index("moov") < boxes.index("mdat"), boxes  # faststart: playable while it downloads
        (tmp_path / "video.mp4").write_bytes(data)
        with av.open(str(tmp_path / "video.mp4")) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context
            assert (codec.name, codec.profile, codec.format.name) == ("h264", "High", "yuv420p")
            assert (codec.width, codec.height) == size
            assert not container.streams.audio  # with_audio false: nothing of the provider's sound
            fps = stream.average_rate
            assert fps in (Fraction(24), Fraction(25), Fraction(30))
            steps = set()
            previous = None
            for packet in sorted(container.demux(stream), key=lambda p: p.pts if p.pts is not None else -1):
                if packet.pts is None:
                    continue
                if previous is not None:
                    steps.add(packet.pts - previous)
                previous = packet.pts
            assert len(steps) == 1, f"not a constant frame rate: pts steps {sorted(steps)}"
            seconds = float(container.duration / 1_000_000)
            assert abs(seconds - duration) <= 1 / float(fps) + 1e-3, seconds

        poster = Image.open(
            io.BytesIO(client.s3().get_object(Bucket=bucket, Key=poster_key(job.object_key))["Body"].read())
        )
        assert poster.size == size

        video = next(m for m in await client.list_media(tenant, post) if m.media_type == "social_video")
        assert (video.width, video.height, video.codec) == (*size, "h264")
        assert video.fps == pytest.approx(float(fps))
        assert video.size_bytes == len(data) and video.bitrate == pytest.approx(len(data) * 8 / seconds, rel=0.05)
        assert not video.has_audio
        # What the provider rendered (the simulator renders what the model renders): smaller than the deliverable.
        assert 0 < video.source_width < size[0] and 0 < video.source_height < size[1]
        assert video.source_fps == 24
    finally:
        await client.close()


@contextmanager
def _still_frame_with(stack: RunningStack, **settings: str) -> Iterator[None]:
    """The session stack's still-frame service restarted with `settings`, and restored afterwards (the tests of one
    worker run one at a time, so no other test sees it)."""
    changed = RunningStack(stack.home, {**stack.env, **settings}, stack.sink)
    stack.kill("still_frame", signal.SIGTERM)
    changed.up("still_frame")
    try:
        yield
    finally:
        stack.kill("still_frame", signal.SIGTERM)
        stack.up("still_frame")


def _frames(client: StackClient, object_key: str, path: Path) -> tuple[Image.Image, Image.Image]:
    with av.open(str(client.download(object_key, path))) as container:
        frames = [frame.to_image().convert("L") for frame in container.decode(video=0)]
    return frames[0], frames[-1]


def _changed(a: Image.Image, b: Image.Image, mask: Image.Image, levels: int = 8) -> float:
    """Share of the pixels under `mask` that differ by more than `levels` (encoder noise stays under it)."""
    counts = ImageChops.difference(a, b).histogram(mask=mask)
    return sum(counts[levels + 1 :]) / sum(counts)


async def test_baked_brand_text_moves_with_the_scene_and_after_animation_text_does_not(
    stack: RunningStack, tmp_path: Path
) -> None:
    """Two posts with the same brand, copy and format (so the same layout): by default the brand layer is blended
    after animation and stands still; with `TEXT_OVERLAY=baked` (the spec's behaviour, on request) the provider
    animates the composited still and the text travels with the camera."""
    client = StackClient(stack.info)
    bucket = stack.info["s3_bucket"]
    tenant = f"t-{short_id(8)}"
    try:
        _, reference = await _approve_and_finish(client, {}, tenant)
        assert reference.status == c.JOB_STATUS_SUCCEEDED, reference.error
        overlay_key = reference.still_key.removesuffix(".png") + "-overlay.png"
        overlay = Image.open(io.BytesIO(client.s3().get_object(Bucket=bucket, Key=overlay_key)["Body"].read()))
        panel = overlay.getchannel("A").point(lambda a: 255 if a == 255 else 0)  # text panel, pill and logo
        first, last = _frames(client, reference.object_key, tmp_path / "after.mp4")
        assert _changed(first, last, panel) < 0.01

        with _still_frame_with(stack, TEXT_OVERLAY="baked"):
            _, baked = await _approve_and_finish(client, {}, tenant)
        assert baked.status == c.JOB_STATUS_SUCCEEDED, baked.error
        baked_overlay = baked.still_key.removesuffix(".png") + "-overlay.png"
        assert "Contents" not in client.s3().list_objects_v2(Bucket=bucket, Prefix=baked_overlay)  # none made
        first, last = _frames(client, baked.object_key, tmp_path / "baked.mp4")
        assert _changed(first, last, panel) > 0.05  # the panel's pixels moved with the scene
    finally:
        await client.close()
