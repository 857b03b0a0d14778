"""render_mp4: real H.264 output, exact frame count/duration, faststart, cover-crop."""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops

from provider_sim.motion import CameraMove
from provider_sim.render import InvalidImageError, RenderCancelled, cover_box, render_mp4

ImageFactory = Callable[..., bytes]


def top_level_boxes(data: bytes) -> list[str]:
    """Names of the top-level ISO-BMFF boxes, in file order."""
    names: list[str] = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        names.append(kind.decode("latin-1"))
        offset += size
    return names


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "width": stream.width,
            "height": stream.height,
            "pix_fmt": stream.format.name,
            "frames": decoded,
            "duration": (container.duration or 0) / av.time_base,
        }


def red_bbox(image: Image.Image) -> tuple[int, int, int, int]:
    r, g, b = image.convert("RGB").split()
    mask = ImageChops.multiply(
        ImageChops.multiply(r.point(lambda v: 255 if v > 170 else 0), g.point(lambda v: 255 if v < 90 else 0)),
        b.point(lambda v: 255 if v < 90 else 0),
    )
    box = mask.getbbox()
    assert box is not None, "no red circle found"
    return box


def test_vertical_1080x1920_five_seconds(tmp_path: Path, make_image: ImageFactory) -> None:
    out = tmp_path / "out.mp4"
    progress: list[float] = []
    started = time.perf_counter()
    result = render_mp4(make_image(1080, 1920), "slow zoom in", 5, 1080, 1920, out, progress.append)
    elapsed = time.perf_counter() - started
    print(f"render 1080x1920 5s: {elapsed:.2f}s")

    info = probe(out)
    assert info["codec"] == "h264"
    assert (info["width"], info["height"]) == (1080, 1920)
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == 120
    assert abs(float(str(info["duration"])) - 5.0) <= 0.1
    boxes = top_level_boxes(out.read_bytes())
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")
    assert result.frames == 120 and result.move is CameraMove.ZOOM_IN
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert not [p for p in tmp_path.iterdir() if p.name != "out.mp4"], "partial file left behind"


def test_ten_seconds_is_240_frames(tmp_path: Path, make_image: ImageFactory) -> None:
    out = tmp_path / "ten.mp4"
    render_mp4(make_image(300, 300), "pan right", 10, 256, 256, out)
    info = probe(out)
    assert info["frames"] == 240
    assert abs(float(str(info["duration"])) - 10.0) <= 0.1


def test_cover_crop_never_stretches(tmp_path: Path, make_image: ImageFactory) -> None:
    # Landscape 16:9 still into a portrait 9:16 video: a round circle must stay round.
    out = tmp_path / "cover.mp4"
    render_mp4(make_image(1600, 900, circle_radius=200), "static", 5, 720, 1280, out)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_image()
    assert frame.size == (720, 1280)
    left, top, right, bottom = red_bbox(frame)
    width, height = right - left, bottom - top
    # A static shot shows the whole cover-fit still: scale is 1280/900 (height-bound).
    expected = 400 * 1280 / 900
    assert abs(width - height) <= 6, (width, height)
    assert abs(width - expected) <= 12, (width, expected)
    assert abs((left + right) / 2 - 360) <= 4 and abs((top + bottom) / 2 - 640) <= 4


def test_cover_box_geometry() -> None:
    assert cover_box(1600, 900, 1080, 1920) == pytest.approx((546.875, 0.0, 1053.125, 900.0))
    assert cover_box(1000, 1000, 1920, 1080) == pytest.approx((0.0, 218.75, 1000.0, 781.25))


def test_zoom_in_enlarges_subject(tmp_path: Path, make_image: ImageFactory) -> None:
    out = tmp_path / "zoom.mp4"
    render_mp4(make_image(480, 480, circle_radius=80), "zoom in", 5, 480, 480, out)
    with av.open(str(out)) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    first, last = red_bbox(frames[0]), red_bbox(frames[-1])
    assert (last[2] - last[0]) > (first[2] - first[0]) * 1.05


def test_cancel_leaves_no_file(tmp_path: Path, make_image: ImageFactory) -> None:
    out = tmp_path / "cancelled.mp4"

    def stop_early(fraction: float) -> None:
        if fraction > 0.2:
            raise RenderCancelled

    with pytest.raises(RenderCancelled):
        render_mp4(make_image(320, 320), None, 5, 320, 320, out, stop_early)
    assert list(tmp_path.iterdir()) == []


def test_rejects_non_image(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError):
        render_mp4(b"definitely not an image", None, 5, 320, 320, tmp_path / "x.mp4")
    with pytest.raises(ValueError):
        render_mp4(b"", None, 5, 321, 320, tmp_path / "odd.mp4")


def test_kling_renders_30_fps_with_a_sound_track_when_asked(tmp_path: Path, make_image: ImageFactory) -> None:
    out = tmp_path / "kling.mp4"
    result = render_mp4(make_image(90, 160), "zoom in", 1, 72, 128, out, fps=30, audio=True)
    assert (result.fps, result.frames) == (30, 30)
    with av.open(str(out)) as container:
        video, (sound,) = container.streams.video[0], container.streams.audio
        assert video.average_rate == 30 and sum(1 for _ in container.decode(video)) == 30
        assert (sound.codec_context.name, sound.rate, sound.channels) == ("aac", 44_100, 2)
        assert abs(float(sound.duration * sound.time_base) - 1.0) < 0.05  # type: ignore[operator]
    silent = render_mp4(make_image(90, 160), "zoom in", 1, 72, 128, tmp_path / "silent.mp4")
    assert silent.fps == 24
    with av.open(str(silent.path)) as container:
        assert not container.streams.audio and container.streams.video[0].average_rate == 24


def test_the_camera_moves_everything_in_the_frame_text_included(tmp_path: Path) -> None:
    # A still with "text" baked in (a dark bar low in the frame): a real model moves it with the scene.
    still = Image.new("RGB", (144, 256), (200, 200, 200))
    still.paste((10, 10, 10), (20, 170, 124, 190))
    buffer = io.BytesIO()
    still.save(buffer, "PNG")
    out = tmp_path / "baked.mp4"
    render_mp4(buffer.getvalue(), "pan right", 1, 144, 256, out)
    with av.open(str(out)) as container:
        frames = [f.to_image().convert("L") for f in container.decode(video=0)]
    first, last = (f.point(lambda v: 255 if v < 60 else 0).getbbox() for f in (frames[0], frames[-1]))
    assert first is not None and last is not None and first != last
