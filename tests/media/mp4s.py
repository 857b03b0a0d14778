"""Test videos: a small real H.264 MP4 from PyAV, grown to any size by enlarging its `mdat` box.

A big file is made cheaply and stays valid: the encoded samples stay where the sample table points (at the start of
`mdat`), the box is extended with random padding the table never references, and `moov` stays where it was. Players
and the media store's probe see a normal short video; the transfer moves every byte.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import av
from PIL import Image

PAD_BLOCK = 4 * 1024 * 1024


def small_mp4(
    path: Path,
    *,
    seconds: float = 2,
    width: int = 270,
    height: int = 480,
    rate: int = 24,
    faststart: bool = False,
    deliverable: bool = False,
    audio_hz: int = 0,
) -> Path:
    """A flat-colour H.264 clip (PyAV's defaults: `moov` last, untagged). `deliverable`: High profile, 2 s closed
    GOP, BT.709 tags, as the conform step writes it; `audio_hz`: a mono AAC tone at that sample rate."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        x264 = {"preset": "veryfast"}
        if deliverable:
            x264 |= {"profile": "high", "x264-params": f"keyint={2 * rate}:min-keyint={2 * rate}:scenecut=0"}
        stream = container.add_stream("libx264", rate=rate, options=x264)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if deliverable:
            ctx = stream.codec_context
            ctx.color_primaries, ctx.color_trc, ctx.colorspace = 1, 1, 1
        if audio_hz:
            _tone(container, audio_hz, seconds)
        for index in range(round(seconds * rate)):
            image = Image.new("RGB", (width, height), ((index * 7) % 255, 90, 160))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _tone(container: av.container.OutputContainer, rate: int, seconds: float) -> None:
    stream = container.add_stream("aac", rate=rate, layout="mono")
    total, sent = round(rate * seconds), 0
    while sent < total:
        count = min(1024, total - sent)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        samples = [0.3 * math.sin(2 * math.pi * 440 * (sent + i) / rate) for i in range(count)]
        frame.planes[0].update(struct.pack(f"<{count}f", *samples).ljust(frame.planes[0].buffer_size, b"\0"))
        frame.sample_rate, frame.pts = rate, sent
        sent += count
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _boxes(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """Top-level boxes: (type, offset, header size, total size)."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - offset
        boxes.append((kind, offset, header, size))
        offset += size
    return boxes


def large_mp4(path: Path, size: int, *, source: Path | None = None) -> Path:
    """A valid MP4 of exactly `size` bytes (reused when `path` already has that size)."""
    if path.exists() and path.stat().st_size == size:
        return path
    source = source or small_mp4(path.with_suffix(".small.mp4"))
    data = source.read_bytes()
    boxes = _boxes(data)
    _, offset, header, box_size = next(b for b in boxes if b[0] == b"mdat")
    padding = size - len(data)
    if padding < 0 or header != 8 or box_size + padding >= 2**32:
        raise ValueError(f"cannot grow the source video's mdat to make {size} bytes")
    block = os.urandom(PAD_BLOCK)
    temp = path.with_suffix(".part")
    with temp.open("wb") as out:
        out.write(data[:offset])
        out.write(struct.pack(">I4s", box_size + padding, b"mdat"))  # same header size: samples keep their offsets
        out.write(data[offset + header : offset + box_size])
        while padding > 0:
            piece = block[: min(padding, PAD_BLOCK)]
            out.write(piece)
            padding -= len(piece)
        out.write(data[offset + box_size :])
    temp.replace(path)
    return path
