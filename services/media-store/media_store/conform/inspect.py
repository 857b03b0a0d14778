"""Probe what the conform decision needs from an MP4: stream parameters, packet timing, keyframes, box order.

Works on any seekable file object (a `RangeReader` over the stored object, or a local file). Only packets are read
(no decoding), so a file's padding or unreferenced bytes are never fetched: the cost is the sample data plus `moov`.
The top-level box order (is `moov` before `mdat`?) is read from the box headers alone.
"""

from __future__ import annotations

import io
import struct
from collections import Counter
from fractions import Fraction
from itertools import pairwise
from typing import Any

import av

from media_store.conform.deliverable import AudioFacts, SourceFacts
from media_store.probe import InvalidVideo

MAX_BOXES = 10_000


def box_order(reader: io.RawIOBase, size: int) -> list[bytes]:
    """The types of the top-level boxes, in file order (walks headers only)."""
    order: list[bytes] = []
    offset = 0
    while offset + 8 <= size and len(order) < MAX_BOXES:
        reader.seek(offset)
        header = reader.read(16) or b""
        if len(header) < 8:
            break
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) >= 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - offset
        if box_size < 8:
            break
        order.append(kind)
        offset += box_size
    return order


def is_faststart(order: list[bytes]) -> bool:
    return b"moov" in order and (b"mdat" not in order or order.index(b"moov") < order.index(b"mdat"))


def _name(value: Any) -> str:
    """An FFmpeg enum (as PyAV hands it out) as its lower-case name; '' when unspecified."""
    names = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}
    if isinstance(value, int):
        return names.get(value, "")
    return str(getattr(value, "name", value) or "").lower()


def _timing(packets: list[tuple[int, bool]], time_base: Fraction) -> tuple[bool, float]:
    """(constant frame rate?, longest keyframe interval in s) from (pts, keyframe) pairs."""
    if not packets:
        return False, 0.0
    ordered = sorted(packets)
    steps = [b[0] - a[0] for a, b in pairwise(ordered)]
    cfr = bool(steps) and len(Counter(steps)) == 1
    keys = [pts for pts, key in ordered if key]
    end = ordered[-1][0] + (steps[-1] if steps else 0)
    marks = [*keys, end] if keys else [ordered[0][0], end]
    gop = max((b - a for a, b in pairwise(marks)), default=0)
    return cfr, float(gop * time_base)


def inspect(reader: io.RawIOBase, size: int) -> SourceFacts:
    """The facts of the MP4 `reader` holds; raises `InvalidVideo` when it cannot be read."""
    faststart = is_faststart(box_order(reader, size))
    reader.seek(0)
    try:
        with av.open(reader, mode="r") as container:
            if not container.streams.video:
                raise InvalidVideo("the MP4 has no video stream")
            video = container.streams.video[0]
            audio_stream = container.streams.audio[0] if container.streams.audio else None
            packets: list[tuple[int, bool]] = []
            video_bytes = 0
            for packet in container.demux(video):
                if packet.pts is None or packet.size == 0:
                    continue
                packets.append((packet.pts, packet.is_keyframe))
                video_bytes += packet.size
            assert video.time_base is not None
            cfr, gop_s = _timing(packets, video.time_base)
            ctx = video.codec_context
            duration = float(video.duration * video.time_base) if video.duration else 0.0
            fps = float(video.average_rate or video.guessed_rate or 0)
            audio = None
            if audio_stream is not None:
                actx = audio_stream.codec_context
                audio = AudioFacts(actx.name, str(actx.profile or ""), actx.sample_rate, actx.channels)
            return SourceFacts(
                duration_s=duration,
                width=ctx.width,
                height=ctx.height,
                sar=Fraction(video.sample_aspect_ratio or 0),
                codec=ctx.name,
                profile=str(ctx.profile or ""),
                pix_fmt=ctx.pix_fmt or "",
                fps=fps,
                cfr=cfr,
                max_gop_s=gop_s,
                colorspace=_name(ctx.colorspace),
                video_bitrate=int(video_bytes * 8 / duration) if duration > 0 else 0,
                faststart=faststart,
                audio=audio,
            )
    except (av.error.FFmpegError, EOFError) as exc:
        raise InvalidVideo(f"the MP4 cannot be read: {exc}") from exc
