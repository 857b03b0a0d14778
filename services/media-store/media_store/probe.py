"""MP4 validation and probing with PyAV over ranged reads: stream facts and the first frame as a JPEG poster.

The probe never needs the whole file: PyAV reads through `RangeReader`, a seekable file object that fetches blocks
of the stored object on demand (a small LRU of blocks bounds memory). It opens the container (which needs the
`moov` box), decodes the first frame (the poster) and seeks to the last keyframe and decodes to the end, so a file
whose sample table points past its end, or whose tail is garbage, fails; decoding runs with FFmpeg's error
detection set to fail on the first bitstream error instead of concealing it.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import av

Fetch = Callable[[int, int], bytes]
TAIL_S = 1.0


class InvalidVideo(ValueError):
    """The bytes are not a playable MP4 video."""


@dataclass(frozen=True)
class VideoFacts:
    duration_seconds: float
    width: int
    height: int
    codec: str
    size_bytes: int
    fps: float = 0.0
    has_audio: bool = False

    @property
    def bitrate(self) -> int:
        """The file's average bit rate (bit/s): what an upload limit sees."""
        return int(self.size_bytes * 8 / self.duration_seconds) if self.duration_seconds > 0 else 0


class RangeReader(io.RawIOBase):
    """A read-only, seekable file over `fetch(offset, length)` with an LRU cache of `block_size` blocks."""

    def __init__(self, fetch: Fetch, size: int, *, block_size: int = 512 * 1024, cached_blocks: int = 8) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._block = block_size
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached_blocks = cached_blocks
        self._pos = 0
        self.fetches = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _block_at(self, index: int) -> bytes:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        start = index * self._block
        data = self._fetch(start, min(self._block, self._size - start))
        self.fetches += 1
        self._cache[index] = data
        if len(self._cache) > self._cached_blocks:
            self._cache.popitem(last=False)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._size - self._pos)
        done = 0
        while done < wanted:
            index, within = divmod(self._pos, self._block)
            data = self._block_at(index)[within : within + wanted - done]
            if not data:
                break
            buffer[done : done + len(data)] = data
            done += len(data)
            self._pos += len(data)
        return done


def _poster(frame: av.VideoFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_image().save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def probe(reader: io.RawIOBase, size: int) -> tuple[VideoFacts, bytes]:
    """Facts about the MP4 `reader` holds (`size` bytes) and its first frame as JPEG; raises `InvalidVideo`."""
    try:
        with av.open(reader, mode="r") as container:
            if "mp4" not in container.format.name:
                raise InvalidVideo(f"not an MP4 container ({container.format.name})")
            if not container.streams.video:
                raise InvalidVideo("the MP4 has no video stream")
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise InvalidVideo("the video stream has no decodable frames")
            poster = _poster(first)
            duration = _duration(container, stream)
            if duration <= 0:
                raise InvalidVideo("the video has no duration")
            tail_frames = _decode_tail(container, stream, duration)
            if tail_frames == 0:
                raise InvalidVideo("the end of the video cannot be decoded")
            facts = VideoFacts(
                duration_seconds=round(duration, 3),
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                codec=stream.codec_context.name,
                size_bytes=size,
                fps=round(float(stream.average_rate or stream.guessed_rate or 0), 3),
                has_audio=bool(container.streams.audio),
            )
    except (av.error.FFmpegError, EOFError) as exc:
        raise InvalidVideo(f"the MP4 cannot be decoded: {exc}") from exc
    return facts, poster


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return float(container.duration / 1_000_000) if container.duration else 0.0


def _decode_tail(container: av.container.InputContainer, stream: av.VideoStream, duration: float) -> int:
    """Seek to the keyframe before the last `TAIL_S` seconds and decode to the end; the number of frames."""
    assert stream.time_base is not None
    start = int(max(0.0, duration - TAIL_S) / stream.time_base) + (stream.start_time or 0)
    container.seek(start, stream=stream, backward=True, any_frame=False)
    return sum(1 for _ in container.decode(stream))
