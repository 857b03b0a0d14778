"""Rendering: animate a still image with a camera move and encode it as an MP4.

Pure apart from writing ``out_path``: still image bytes + motion prompt text +
duration + output size + frame rate in, H.264/yuv420p MP4 (moov atom first, with
an AAC sound track when asked for) out. Usable without the server via :func:`render_mp4`.

Like a real image-to-video model, the camera moves over the *whole* frame: text
or a logo baked into the still zooms, pans and sways with the scene.

How it stays fast: the still is cover-cropped and resized once to a "base"
canvas a few percent larger than the output and converted once to BT.709
Y/Cb/Cr planes (chroma already at half resolution). Each frame is then three
bilinear single-channel ``Image.resize`` calls on a float sub-box of those
planes (sub-pixel accurate, so the motion does not stair-step), copied straight
into a yuv420p frame. Frames are produced by a small thread pool a few frames
ahead of the encoder; Pillow's resampling releases the GIL and libx264 runs its
own threads, so the stages overlap.
"""

from __future__ import annotations

import array
import io
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageOps, UnidentifiedImageError

from provider_sim.motion import CameraMove, parse_motion

FPS = 24  # Runway's models; Kling renders 30
AUDIO_RATE = 44_100  # what the sound track is sampled at (not the deliverable's 48 kHz: media-store converts it)
_AUDIO_CHUNK = 1024  # samples per AAC frame
_TONE_HZ = 220.0
_TONE_LEVEL = 0.05
# How far (relative to the output size) the camera travels: enough to read as
# deliberate motion, small enough not to look like a different shot.
ZOOM_MAGNITUDE = 0.08
SWAY_ZOOM = 0.04
SWAY_SECONDS_PER_CYCLE = 5.0
X264_PRESET = "veryfast"
X264_CRF = "23"
_PRODUCER_THREADS = 2
_LOOKAHEAD = 4
# AVCOL_* value shared by primaries, transfer and matrix for BT.709; HD players
# assume BT.709 for untagged video, so convert and tag with it explicitly.
_BT709 = 1
_RANGE_TV = 1

Box = tuple[float, float, float, float]
ProgressCallback = Callable[[float], None]


class InvalidImageError(ValueError):
    """The input bytes are not an image Pillow can decode."""


class RenderCancelled(Exception):
    """Raised by a progress callback to abandon a render."""


@dataclass(frozen=True)
class RenderResult:
    path: Path
    width: int
    height: int
    frames: int
    fps: int
    move: CameraMove
    seconds: float


def open_still(image_bytes: bytes) -> Image.Image:
    """Decode image bytes to an upright RGB image."""
    try:
        with Image.open(io.BytesIO(image_bytes)) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return upright.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"cannot decode image: {exc}") from exc


def cover_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Box:
    """Centered crop box of the source with the destination's aspect ratio."""
    src_aspect = src_w / src_h
    dst_aspect = dst_w / dst_h
    if src_aspect > dst_aspect:
        crop_w = src_h * dst_aspect
        left = (src_w - crop_w) / 2
        return (left, 0.0, left + crop_w, float(src_h))
    crop_h = src_w / dst_aspect
    top = (src_h - crop_h) / 2
    return (0.0, top, float(src_w), top + crop_h)


def ease_in_out(t: float) -> float:
    """Cosine ease: zero velocity at both ends."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def _centered(base_w: int, base_h: int, zoom: float) -> Box:
    box_w, box_h = base_w / zoom, base_h / zoom
    left, top = (base_w - box_w) / 2, (base_h - box_h) / 2
    return (left, top, left + box_w, top + box_h)


def view_boxes(move: CameraMove, frames: int, base_w: int, base_h: int, fps: int = FPS) -> Iterator[Box]:
    """Per-frame source boxes in base-canvas coordinates.

    The base canvas is ``1 + ZOOM_MAGNITUDE`` times the output size, so a box of
    ``base / (1 + ZOOM_MAGNITUDE)`` maps 1:1 onto output pixels.
    """
    full = 1.0 + ZOOM_MAGNITUDE
    cycles = max(1, round(frames / fps / SWAY_SECONDS_PER_CYCLE))
    for i in range(frames):
        t = i / (frames - 1) if frames > 1 else 1.0
        e = ease_in_out(t)
        if move is CameraMove.ZOOM_IN:
            yield _centered(base_w, base_h, 1.0 + ZOOM_MAGNITUDE * e)
        elif move is CameraMove.ZOOM_OUT:
            yield _centered(base_w, base_h, 1.0 + ZOOM_MAGNITUDE * (1.0 - e))
        elif move in (CameraMove.PAN_LEFT, CameraMove.PAN_RIGHT):
            left, top, right, bottom = _centered(base_w, base_h, full)
            travel = base_w - (right - left)
            # Panning left moves the view window left across the scene.
            x = travel * (1.0 - e) if move is CameraMove.PAN_LEFT else travel * e
            yield (x, top, x + (right - left), bottom)
        elif move is CameraMove.SWAY:
            left, top, right, bottom = _centered(base_w, base_h, 1.0 + SWAY_ZOOM)
            phase = 2.0 * math.pi * cycles * t
            dx = 0.9 * left * math.sin(phase)
            dy = 0.45 * top * math.sin(2.0 * phase)
            yield (left + dx, top + dy, right + dx, bottom + dy)
        else:
            # The whole cover-fit still, exactly as supplied.
            yield _centered(base_w, base_h, 1.0)


@dataclass(frozen=True)
class YuvCanvas:
    """The base canvas as BT.709 limited-range planes: full-res luma, half-res chroma.

    Converting once and resampling single-channel planes per frame is several
    times cheaper than resampling RGB and colour-converting every frame.
    """

    luma: Image.Image
    cb: Image.Image
    cr: Image.Image

    @classmethod
    def from_rgb(cls, base: Image.Image) -> YuvCanvas:
        full = av.VideoFrame.from_image(base).reformat(
            format="yuv444p", dst_colorspace=_BT709, dst_color_range=_RANGE_TV
        )
        planes = [
            Image.frombuffer("L", (p.line_size, p.height), bytes(p), "raw", "L", 0, 1).crop((0, 0, p.width, p.height))
            for p in full.planes
        ]
        half = ((base.width + 1) // 2, (base.height + 1) // 2)
        return cls(
            luma=planes[0],
            cb=planes[1].resize(half, Image.Resampling.BOX),
            cr=planes[2].resize(half, Image.Resampling.BOX),
        )

    def frame(self, box: Box, width: int, height: int, pts: int) -> av.VideoFrame:
        luma_box = _clamp(box, self.luma.width, self.luma.height)
        sx = self.cb.width / self.luma.width
        sy = self.cb.height / self.luma.height
        chroma_box = _clamp((box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), self.cb.width, self.cb.height)
        chroma_size = (width // 2, height // 2)
        frame = av.VideoFrame(width, height, "yuv420p")
        sources = (
            self.luma.resize((width, height), Image.Resampling.BILINEAR, box=luma_box),
            self.cb.resize(chroma_size, Image.Resampling.BILINEAR, box=chroma_box),
            self.cr.resize(chroma_size, Image.Resampling.BILINEAR, box=chroma_box),
        )
        for plane, image in zip(frame.planes, sources, strict=True):
            plane.update(_padded(image, plane.line_size))
        frame.pts = pts
        return frame


def _clamp(box: Box, width: int, height: int) -> Box:
    # Float error in the motion maths must never push a box past the canvas:
    # Pillow rejects such boxes outright.
    left, top, right, bottom = box
    return (max(left, 0.0), max(top, 0.0), min(right, float(width)), min(bottom, float(height)))


def _padded(image: Image.Image, line_size: int) -> bytes:
    """Plane bytes with each row padded to FFmpeg's aligned line size."""
    if image.width == line_size:
        return image.tobytes()
    padded = Image.new("L", (line_size, image.height))
    padded.paste(image, (0, 0))
    return padded.tobytes()


def _validate(duration_s: int, width: int, height: int, fps: int) -> None:
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if not 1 <= fps <= 120:
        raise ValueError("fps must be within 1..120")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError("width and height must be positive and even (yuv420p)")


def render_mp4(
    image_bytes: bytes,
    motion_text: str | None,
    duration_s: int,
    width: int,
    height: int,
    out_path: str | os.PathLike[str],
    progress_cb: ProgressCallback | None = None,
    *,
    fps: int = FPS,
    audio: bool = False,
    preset: str = X264_PRESET,
) -> RenderResult:
    """Render ``duration_s`` seconds of ``width``x``height`` video at ``fps`` to ``out_path`` (with ``audio``: a
    quiet stereo AAC tone as long as the video, as a model that generates sound adds one). ``preset`` is libx264's
    speed/size trade-off: it changes the file's size, never its frame size, rate, duration or sound.

    ``progress_cb`` receives the encoded fraction (0..1) after each frame; if it
    raises (e.g. :class:`RenderCancelled`) the render stops and no file is left
    behind. The file appears atomically: it is written beside ``out_path`` and
    renamed into place only when complete.
    """
    _validate(duration_s, width, height, fps)
    started = time.perf_counter()
    move = parse_motion(motion_text)
    still = open_still(image_bytes)
    base_w = round(width * (1.0 + ZOOM_MAGNITUDE))
    base_h = round(height * (1.0 + ZOOM_MAGNITUDE))
    base = still.resize(
        (base_w, base_h),
        Image.Resampling.LANCZOS,
        box=cover_box(still.width, still.height, width, height),
        reducing_gap=3.0,
    )
    frames = duration_s * fps
    target = Path(out_path)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        _encode(YuvCanvas.from_rgb(base), move, frames, (width, height, fps), audio, partial, progress_cb, preset)
        if progress_cb is not None:
            progress_cb(1.0)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return RenderResult(
        path=target,
        width=width,
        height=height,
        frames=frames,
        fps=fps,
        move=move,
        seconds=time.perf_counter() - started,
    )


class _Tone:
    """A quiet stereo sine as AAC, encoded in step with the video so the two tracks interleave."""

    def __init__(self, container: av.container.OutputContainer) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        self._written = 0

    def until(self, seconds: float) -> None:
        """Encode whole chunks up to ``seconds`` of sound."""
        while self._written < seconds * AUDIO_RATE:
            self._chunk()

    def _chunk(self) -> None:
        step = 2.0 * math.pi * _TONE_HZ / AUDIO_RATE
        wave = array.array("f", (_TONE_LEVEL * math.sin(step * (self._written + i)) for i in range(_AUDIO_CHUNK)))
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=_AUDIO_CHUNK)
        for plane in frame.planes:
            plane.update(wave.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._written
        self._written += _AUDIO_CHUNK
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)


def _encode(
    canvas: YuvCanvas,
    move: CameraMove,
    frames: int,
    shape: tuple[int, int, int],
    audio: bool,
    path: Path,
    progress_cb: ProgressCallback | None,
    preset: str,
) -> None:
    width, height, fps = shape
    boxes = view_boxes(move, frames, canvas.luma.width, canvas.luma.height, fps)
    with (
        av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container,
        ThreadPoolExecutor(_PRODUCER_THREADS, thread_name_prefix="render-frame") as pool,
    ):
        stream = container.add_stream("libx264", rate=fps, options={"preset": preset, "crf": X264_CRF})
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.colorspace = _BT709
        ctx.color_primaries = _BT709
        ctx.color_trc = _BT709
        ctx.color_range = _RANGE_TV
        tone = _Tone(container) if audio else None
        pending: deque[Future[av.VideoFrame]] = deque()
        submitted = 0
        try:
            for index in range(frames):
                while submitted < frames and len(pending) < _LOOKAHEAD:
                    pending.append(pool.submit(canvas.frame, next(boxes), width, height, submitted))
                    submitted += 1
                frame = pending.popleft().result()
                for packet in stream.encode(frame):
                    container.mux(packet)
                if tone is not None:
                    tone.until((index + 1) / fps)
                if progress_cb is not None:
                    # Leave headroom: flushing x264's lookahead still takes a moment.
                    progress_cb(0.98 * (index + 1) / frames)
            for packet in stream.encode(None):
                container.mux(packet)
            if tone is not None:
                tone.close()
        finally:
            for future in pending:
                future.cancel()
