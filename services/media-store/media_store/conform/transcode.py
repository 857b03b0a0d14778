"""Carry out a conform `Plan` with PyAV: one local MP4 in, the deliverable MP4 out (blocking; run it on a thread).

Video is either copied packet for packet (a remux) or decoded and pushed through one FFmpeg filter graph: crop /
scale (Lanczos) / letterbox per the plan's geometry, square pixels, BT.709 (the RGBA brand overlay converted with
the same matrix and alpha-blended onto every frame), 4:2:0; frames are retimed to the plan's constant rate, cut at
the requested length and, if the source ends a little early, its last frame is held. The encoder is libx264, High
profile, VBV-capped ABR (~8 Mbps at 1080p, 12 Mbps ceiling), closed GOP of `GOP_SECONDS` with no scene-cut
keyframes, BT.709 tags. Sound is dropped, copied, or resampled and encoded as AAC-LC 48 kHz stereo, trimmed or
padded with silence to the video's length. `moov` is written first (faststart) without an edit list.

The cores are used as the ffmpeg CLI uses them: the decoder and libx264 run frame threads (PyAV opens codecs with
slice threads only: a provider's one-slice stream then decodes on one core, and libx264 cuts every picture into
slices, which compresses worse and keeps fewer cores busy), the filter graph has its own slice threads, and
decoding + filtering run on a thread of their own a few frames ahead of the encoder (PyAV releases the GIL inside
FFmpeg's calls).

The work checks `should_stop` between frames, so a timeout or shutdown stops it within a frame.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter
from av.video.frame import PictureType

from media_store.conform.deliverable import Plan
from svd import deliverables

AHEAD_FRAMES = 2  # deliverable frames decoded and filtered ahead of the encoder (~3 MiB each)
CONTAINER_OPTIONS = {"movflags": "+faststart+negative_cts_offsets", "use_editlist": "0"}


class Stopped(Exception):
    """`should_stop` said so (timeout or shutdown)."""


@dataclass(frozen=True)
class EncoderSettings:
    preset: str = "veryfast"
    threads: int = 0  # the decoder's, the filter graph's and libx264's threads; 0: each picks (about one per core)


def x264_options(plan: Plan, settings: EncoderSettings) -> dict[str, str]:
    """The libx264 options of the deliverable (also what the benchmark hands the ffmpeg CLI)."""
    target, ceiling, _ = deliverables.bitrate_for(plan.width, plan.height)
    gop = plan.fps * deliverables.GOP_SECONDS
    return {
        "preset": settings.preset,
        "profile": "high",
        "threads": str(settings.threads),
        "x264-params": (
            # The 8x8 transform is what makes x264 write High profile: `ultrafast` turns it off (and the stream
            # would silently become Constrained Baseline), so it is on whatever the preset.
            "8x8dct=1:"
            f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:"
            f"bitrate={target // 1000}:vbv-maxrate={ceiling // 1000}:vbv-bufsize={2 * ceiling // 1000}:"
            "colorprim=bt709:transfer=bt709:colormatrix=bt709"
        ),
    }


def filter_chain(plan: Plan) -> str:
    """The main picture's filters (also handed to the ffmpeg CLI by the benchmark)."""
    shape = plan.geometry
    steps = []
    if shape.crop is not None:
        crop = shape.crop
        steps.append(f"crop={crop.width}:{crop.height}:{crop.x}:{crop.y}")
    width, height = shape.scale
    steps.append(f"scale={width}:{height}:flags=lanczos:out_color_matrix=bt709:out_range=tv")
    if shape.pad is not None:
        pad = shape.pad
        steps.append(f"pad={pad.width}:{pad.height}:{pad.x}:{pad.y}:black")
    steps.append("setsar=1")
    return ",".join(steps)


def _overlay_frame(png_rgba: bytes, plan: Plan) -> av.VideoFrame:
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(png_rgba)) as image:
        rgba = image.convert("RGBA")
        if rgba.size != (plan.width, plan.height):
            raise ValueError(f"the overlay is {rgba.width}x{rgba.height}, not {plan.width}x{plan.height}")
        frame = av.VideoFrame(plan.width, plan.height, "rgba")
        plane = frame.planes[0]
        row = plan.width * 4
        data = rgba.tobytes()
        if plane.line_size == row:
            plane.update(data)
        else:
            padded = b"".join(data[y * row : (y + 1) * row].ljust(plane.line_size, b"\0") for y in range(plan.height))
            plane.update(padded)
    return frame


class _Pictures:
    """The filter graph: decoded source frames in, deliverable frames out."""

    def __init__(self, stream: av.VideoStream, plan: Plan, overlay: bytes | None, threads: int = 0) -> None:
        graph = av.filter.Graph()
        graph.threads = threads  # 0: one per core
        source = graph.add_buffer(template=stream)
        last: Any = source
        if plan.fps:
            fps = graph.add("fps", str(plan.fps))
            source.link_to(fps)
            last = fps
        chain = graph.add("null")  # placeholder start of the picture chain
        last.link_to(chain)
        last = chain
        for spec in filter_chain(plan).split(","):
            name, _, args = spec.partition("=")
            node = graph.add(name, args or None)
            last.link_to(node)
            last = node
        pending = None
        if overlay is not None:
            frame = _overlay_frame(overlay, plan)
            assert stream.time_base is not None
            layer = graph.add_buffer(
                width=plan.width, height=plan.height, format=av.VideoFormat("rgba"), time_base=stream.time_base
            )
            convert = graph.add("scale", "out_color_matrix=bt709:out_range=tv")
            alpha = graph.add("format", "yuva420p")
            blend = graph.add("overlay", "0:0:format=yuv420:eof_action=repeat")
            layer.link_to(convert)
            convert.link_to(alpha)
            last.link_to(blend, 0, 0)
            alpha.link_to(blend, 0, 1)
            last = blend
            pending = (layer, frame)
        out = graph.add("format", deliverables.PIX_FMT)
        sink = graph.add("buffersink")
        last.link_to(out)
        out.link_to(sink)
        graph.configure()
        self._graph, self._source, self._sink = graph, source, sink  # the graph must outlive its nodes
        if pending is not None:  # pushed once and not kept: the graph holds the converted layer (8 MiB of RGBA less)
            layer, frame = pending
            frame.pts = 0
            frame.time_base = stream.time_base
            layer.push(frame)
            layer.push(None)

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        self._source.push(frame)
        pulled: list[av.VideoFrame] = []
        while True:
            try:
                out = self._sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return pulled
            if isinstance(out, av.VideoFrame):
                pulled.append(out)


def _video_encoder(output: Any, plan: Plan, settings: EncoderSettings) -> Any:
    stream = output.add_stream("libx264", rate=plan.fps, options=x264_options(plan, settings))
    stream.width, stream.height, stream.pix_fmt = plan.width, plan.height, deliverables.PIX_FMT
    stream.time_base = Fraction(1, plan.fps)
    ctx = stream.codec_context
    ctx.thread_type = "AUTO"
    ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = 1, 1, 1, 1  # BT.709, limited range
    return stream


class _Ahead:
    """Decoding and filtering on a thread of their own, at most `depth` deliverable frames ahead of the encoder.

    PyAV releases the GIL inside FFmpeg's calls, so the decoder, the filter graph (Lanczos scale, overlay) and
    libx264 keep the cores busy at once, as the ffmpeg CLI's threads do, instead of taking turns on one thread. The
    bounded queue keeps memory flat (a 1080x1920 frame is ~3 MiB). Iterating yields the frames in order and raises
    whatever the thread raised; `close` stops the thread (within a frame) and waits for it.
    """

    def __init__(self, source: Any, stream: av.VideoStream, pictures: _Pictures, depth: int) -> None:
        self._queue: queue.Queue[av.VideoFrame | BaseException | None] = queue.Queue(depth)
        self._quit = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(source, stream, pictures), name="conform-decode", daemon=True
        )
        self._thread.start()

    def _run(self, source: Any, stream: av.VideoStream, pictures: _Pictures) -> None:
        try:
            for frame in source.decode(stream):
                for picture in pictures.push(frame):
                    if not self._put(picture):
                        return
            for picture in pictures.push(None):
                if not self._put(picture):
                    return
            self._put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the encoding thread, which raises it
            self._put(error)

    def _put(self, item: av.VideoFrame | BaseException | None) -> bool:
        while not self._quit.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[av.VideoFrame]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._quit.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)  # unblock a waiting `put`
            except queue.Empty:
                continue
        self._thread.join()


def _encode_video(
    source: Any,
    output: Any,
    encoder: Any,
    plan: Plan,
    overlay: bytes | None,
    threads: int,
    stop: Callable[[], bool],
) -> None:
    in_stream = source.streams.video[0]
    decoder = in_stream.codec_context
    decoder.thread_type, decoder.thread_count = "AUTO", threads  # frame and slice threads, as the ffmpeg CLI decodes
    ahead = _Ahead(source, in_stream, _Pictures(in_stream, plan, overlay, threads), AHEAD_FRAMES)
    written = 0
    last: av.VideoFrame | None = None
    try:
        for frame in ahead:
            if stop():
                raise Stopped("conform stopped")
            frame.pts, frame.time_base = written, Fraction(1, plan.fps)
            frame.pict_type = PictureType.NONE  # the source's I-frames must not force keyframes (closed 2 s GOP)
            output.mux(encoder.encode(frame))
            written += 1
            last = frame
            if written >= plan.frames:
                break
    finally:
        ahead.close()
    while written < plan.frames and last is not None:  # the source ended early: hold its last frame
        if stop():
            raise Stopped("conform stopped")
        last.pts = written
        output.mux(encoder.encode(last))
        written += 1
    output.mux(encoder.encode(None))


def _copy_packets(source: Any, in_stream: Any, output: Any, out_stream: Any) -> None:
    for packet in source.demux(in_stream):
        if packet.dts is None:
            continue
        packet.stream = out_stream
        output.mux(packet)


def _samples(plan: Plan) -> int:
    return plan.frames * deliverables.AUDIO_RATE // plan.fps


def _audio_encoder(output: Any) -> Any:
    encoder = output.add_stream(deliverables.AUDIO_CODEC, rate=deliverables.AUDIO_RATE, layout="stereo")
    encoder.bit_rate = deliverables.AUDIO_BITRATE
    return encoder


def _encode_audio(source: Any, output: Any, encoder: Any, plan: Plan, stop: Callable[[], bool]) -> None:
    """Provider sound as AAC-LC 48 kHz stereo, exactly as long as the video (cut, or padded with silence)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=deliverables.AUDIO_RATE)
    fifo = av.AudioFifo()
    wanted = _samples(plan)
    size = 1024
    sent = 0

    def drain(final: bool) -> None:
        nonlocal sent
        while sent < wanted and (fifo.samples >= size or (final and fifo.samples)):
            chunk = fifo.read(min(size, wanted - sent, fifo.samples))
            if chunk is None:
                return
            chunk.pts = sent
            sent += chunk.samples
            output.mux(encoder.encode(chunk))

    for frame in source.decode(source.streams.audio[0]):
        if stop():
            raise Stopped("conform stopped")
        for converted in resampler.resample(frame):
            fifo.write(converted)
        drain(False)
        if sent >= wanted:
            break
    else:
        for converted in resampler.resample(None):
            fifo.write(converted)
        drain(True)
    while sent < wanted:  # silence to the end of the video
        count = min(size, wanted - sent)
        silence = av.AudioFrame(format="fltp", layout="stereo", samples=count)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate, silence.pts = deliverables.AUDIO_RATE, sent
        sent += count
        output.mux(encoder.encode(silence))
    output.mux(encoder.encode(None))


def run(
    src: Path,
    dst: Path,
    plan: Plan,
    *,
    overlay: bytes | None = None,
    settings: EncoderSettings | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Write the deliverable for `plan` from `src` to `dst`; raises `Stopped`, `ValueError` or FFmpeg errors."""
    settings = settings or EncoderSettings()
    with av.open(str(dst), "w", format="mp4", options=CONTAINER_OPTIONS) as output:
        # Every output stream exists before the first packet is written; the short sound track goes first (the
        # muxer interleaves by time), then the pictures.
        with av.open(str(src)) as source:
            in_video = source.streams.video[0]
            if plan.video == "encode":
                video_out = _video_encoder(output, plan, settings)
            else:
                video_out = output.add_stream_from_template(in_video)
            audio_out = None
            if plan.audio == "encode":
                audio_out = _audio_encoder(output)
            elif plan.audio == "copy":
                audio_out = output.add_stream_from_template(source.streams.audio[0])
            if audio_out is not None:
                with av.open(str(src)) as sound:
                    if plan.audio == "encode":
                        _encode_audio(sound, output, audio_out, plan, should_stop)
                    else:
                        _copy_packets(sound, sound.streams.audio[0], output, audio_out)
            if plan.video == "encode":
                _encode_video(source, output, video_out, plan, overlay, settings.threads, should_stop)
            else:
                _copy_packets(source, in_video, output, video_out)
