"""MP4 validation and probing with PyAV: container and stream facts, and the first frame as a JPEG poster."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av


class InvalidVideo(ValueError):
    """The bytes are not a playable MP4 video."""


@dataclass(frozen=True)
class VideoFacts:
    duration_seconds: float
    width: int
    height: int
    codec: str
    size_bytes: int


def has_ftyp(head: bytes) -> bool:
    """An ISO-BMFF file starts with a box whose type is `ftyp`."""
    return len(head) >= 8 and head[4:8] == b"ftyp"


def probe(path: Path) -> tuple[VideoFacts, bytes]:
    """Facts about the MP4 at `path` and its first frame as JPEG; decodes every frame, so a broken tail fails."""
    with path.open("rb") as handle:
        if not has_ftyp(handle.read(12)):
            raise InvalidVideo("not an MP4 file (no ftyp box)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidVideo("the MP4 has no video stream")
            stream = container.streams.video[0]
            poster = b""
            frames = 0
            last_time = 0.0
            for frame in container.decode(stream):
                if frames == 0:
                    buffer = io.BytesIO()
                    frame.to_image().save(buffer, format="JPEG", quality=85)
                    poster = buffer.getvalue()
                frames += 1
                if frame.time is not None:
                    last_time = float(frame.time)
            if frames == 0:
                raise InvalidVideo("the video stream has no decodable frames")
            rate = float(stream.average_rate or 0) or 24.0
            duration = float(container.duration / 1_000_000) if container.duration else last_time + 1 / rate
            facts = VideoFacts(
                duration_seconds=round(duration, 3),
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                codec=stream.codec_context.name,
                size_bytes=path.stat().st_size,
            )
    except av.error.FFmpegError as exc:
        raise InvalidVideo(f"the MP4 cannot be decoded: {exc}") from exc
    return facts, poster
