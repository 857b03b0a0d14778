"""The transcoder's output is the deliverable's H.264 profile whatever encoder preset an operator picks."""

from __future__ import annotations

import io
from pathlib import Path

import av

from media_store.conform import transcode
from media_store.conform.deliverable import decide
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
