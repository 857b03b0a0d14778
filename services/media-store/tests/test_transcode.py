"""The transcoder writes the deliverable's H.264 profile whatever the preset, threads libx264 as the ffmpeg CLI does,
and never leaves its decoding thread behind, whether it ends, is stopped or fails."""

from __future__ import annotations

import io
import itertools
import threading
import time
from pathlib import Path

import av
import pytest

from media_store.conform import transcode
from media_store.conform.deliverable import Plan, decide
from media_store.conform.inspect import inspect
from svd.deliverables import video_spec


def flat_clip(path: Path) -> Path:
    """One second of a flat 180x180 picture at 24 fps: nothing like the deliverable, so it is transcoded."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 180, 180, "yuv420p"
        for index in range(24):
            frame = av.VideoFrame(180, 180, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(16 + 8 * index) % 235]) * plane.buffer_size)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_the_fastest_preset_still_writes_high_profile(tmp_path: Path) -> None:
    """`ultrafast` turns off the 8x8 transform, which x264 would report as Constrained Baseline."""
    source = flat_clip(tmp_path / "source.mp4")
    facts = inspect(io.FileIO(source), source.stat().st_size)
    plan = decide(facts, video_spec("1:1", 5, False), overlay=False)
    assert plan.action == "transcode"
    output = tmp_path / "deliverable.mp4"

    transcode.run(source, output, plan, settings=transcode.EncoderSettings(preset="ultrafast", threads=1))

    with av.open(str(output)) as container:
        video = container.streams.video[0].codec_context
        assert (video.name, video.profile, video.width, video.height) == ("h264", "High", 1080, 1080)


def square_plan(source: Path) -> Plan:
    facts = inspect(io.FileIO(source), source.stat().st_size)
    return decide(facts, video_spec("1:1", 5, False), overlay=False)


def x264_settings(path: Path) -> dict[str, str]:
    """The options libx264 wrote into the stream (its SEI)."""
    data = path.read_bytes()
    start = data.index(b"options: ", data.index(b"x264 - core")) + len(b"options: ")
    text = data[start : data.index(b"\0", start)].decode()
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def decoding_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "conform-decode"]


def test_the_encoder_threads_across_frames_as_the_ffmpeg_cli_does(tmp_path: Path) -> None:
    """PyAV opens codecs with slice threads; libx264 then cuts every picture into slices (less compression, and
    fewer busy cores than the ffmpeg CLI's frame threads, the benchmark's reference with the same settings)."""
    source = flat_clip(tmp_path / "source.mp4")
    plan = square_plan(source)
    output = tmp_path / "deliverable.mp4"

    transcode.run(source, output, plan, settings=transcode.EncoderSettings(preset="ultrafast", threads=2))

    written = x264_settings(output)
    assert (written["threads"], written["sliced_threads"]) == ("2", "0")
    with av.open(str(output)) as container:
        assert sum(1 for _ in container.demux(container.streams.video[0]) if _.size) == plan.frames
    assert not decoding_threads()


def test_a_stop_midway_ends_the_work_and_waits_for_its_decoding_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoding thread is inside a (slowed) filter call when the stop comes; `run` returns only after it ended."""
    source = flat_clip(tmp_path / "source.mp4")
    checks, pushed = itertools.count(), itertools.count()
    push = transcode._Pictures.push

    def slow(self: transcode._Pictures, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        if next(pushed) >= 4:
            time.sleep(0.3)
        return push(self, frame)

    monkeypatch.setattr(transcode._Pictures, "push", slow)

    with pytest.raises(transcode.Stopped):
        transcode.run(
            source,
            tmp_path / "deliverable.mp4",
            square_plan(source),
            settings=transcode.EncoderSettings(preset="ultrafast", threads=1),
            should_stop=lambda: next(checks) >= 3,
        )

    assert not decoding_threads()


def test_a_failure_while_decoding_is_raised_by_the_transcode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = flat_clip(tmp_path / "source.mp4")
    pushed = itertools.count()
    push = transcode._Pictures.push

    def failing(self: transcode._Pictures, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        if next(pushed) == 5:
            raise av.error.InvalidDataError(1094995529, "invalid data in the sixth frame")
        return push(self, frame)

    monkeypatch.setattr(transcode._Pictures, "push", failing)

    with pytest.raises(av.error.InvalidDataError, match="sixth frame"):
        transcode.run(
            source,
            tmp_path / "deliverable.mp4",
            square_plan(source),
            settings=transcode.EncoderSettings(preset="ultrafast", threads=1),
        )

    assert not decoding_threads()
