"""The conform step against the object store: probe the provider's original, then store the deliverable at its key.

`inspect` reads the original through ranged GETs (no local copy). `produce` carries out the plan: a file that is
already the deliverable is copied server-side (its bytes unchanged, nothing passes through this process); anything
else is fetched into a temporary directory of its own, remuxed or transcoded there on a worker thread (the event
loop stays free) under `timeout_s`, streamed into the deliverable's key as a multipart upload, and the directory is
removed whatever happens. A timeout, a file FFmpeg cannot decode or a missing overlay is `Unconformable` (the job
fails at `storing` with the reason); the object store being down is `Unavailable` (retried).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import av

from media_store.conform import transcode
from media_store.conform.deliverable import Plan, SourceFacts, Unconformable, check_usable, decide
from media_store.conform.inspect import inspect
from media_store.probe import InvalidVideo, RangeReader
from svd.deliverables import VideoSpec
from svd.errors import NotFound, Unavailable
from svd.storage import ObjectStore, StoredObject

log = logging.getLogger(__name__)
T = TypeVar("T")
FILE_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ConformConfig:
    timeout_s: float = 600.0
    min_coverage: float = 0.8
    keep_original: bool = False
    encoder: transcode.EncoderSettings = field(default_factory=transcode.EncoderSettings)
    temp_dir: str | None = None
    part_size: int = 8 * 1024 * 1024
    parts_in_flight: int = 2


async def read_through(store: ObjectStore, obj: StoredObject, work: Callable[[RangeReader, int], T]) -> T:
    """Run `work(reader, size)` on a thread over ranged reads of `obj`; a failed read is `Unavailable`."""
    loop = asyncio.get_running_loop()
    failures: list[Exception] = []

    def fetch(offset: int, length: int) -> bytes:
        future = asyncio.run_coroutine_threadsafe(store.get_range(obj.key, offset, length), loop)
        try:
            return future.result(timeout=120)
        except Exception as exc:
            failures.append(exc)
            raise

    try:
        return await asyncio.to_thread(work, RangeReader(fetch, obj.size), obj.size)
    except InvalidVideo as exc:
        if failures:  # FFmpeg saw a read error as a broken file
            raise Unavailable(f"reading {obj.key} back failed: {failures[0]}") from exc
        raise


@dataclass(frozen=True)
class Conformer:
    store: ObjectStore
    config: ConformConfig

    async def inspect(self, original: StoredObject, spec: VideoSpec) -> SourceFacts:
        """The original's facts; `InvalidVideo` when it cannot be read, `Unconformable` when it is unusable."""
        facts = await read_through(self.store, original, inspect)
        check_usable(facts, spec, self.config.min_coverage)
        return facts

    async def produce(
        self, original: StoredObject, key: str, facts: SourceFacts, spec: VideoSpec, overlay_key: str
    ) -> Plan:
        """Store the deliverable made from `original` at `key`; the plan that was carried out."""
        overlay = await self._overlay(overlay_key) if overlay_key else None
        plan = decide(facts, spec, overlay is not None)
        log.info("conform %s → %s: %s (%s)", original.key, key, plan.action, "; ".join(plan.reasons) or "as it is")
        if plan.action == "pass":
            await self.store.copy(original.key, key)
            return plan
        with tempfile.TemporaryDirectory(prefix="conform-", dir=self.config.temp_dir) as work_dir:
            src, dst = Path(work_dir) / "original.mp4", Path(work_dir) / "deliverable.mp4"
            await self._download(original, src)
            await self._run(src, dst, plan, overlay)
            await self.store.upload_stream(
                key,
                _file_chunks(dst),
                "video/mp4",
                part_size=self.config.part_size,
                max_in_flight=self.config.parts_in_flight,
            )
        return plan

    async def _overlay(self, overlay_key: str) -> bytes:
        try:
            return await self.store.get_bytes(overlay_key)
        except NotFound as exc:
            raise Unconformable(f"the brand overlay {overlay_key} is missing") from exc

    async def _download(self, obj: StoredObject, path: Path) -> None:
        with path.open("wb") as out:
            for offset in range(0, obj.size, FILE_CHUNK):
                data = await self.store.get_range(obj.key, offset, min(FILE_CHUNK, obj.size - offset))
                await asyncio.to_thread(out.write, data)

    async def _run(self, src: Path, dst: Path, plan: Plan, overlay: bytes | None) -> None:
        """The PyAV work on a thread; on timeout or cancellation it is told to stop and waited for (within a frame),
        so the temporary files are never removed under it."""
        stop = threading.Event()
        work = asyncio.ensure_future(
            asyncio.to_thread(
                transcode.run, src, dst, plan, overlay=overlay, settings=self.config.encoder, should_stop=stop.is_set
            )
        )
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await asyncio.shield(work)
        except TimeoutError as exc:
            stop.set()
            await asyncio.wait([work])
            raise Unconformable(f"conforming took longer than {self.config.timeout_s:.0f} s") from exc
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait([work])
            raise
        except (av.error.FFmpegError, ValueError, EOFError) as exc:
            raise Unconformable(f"the provider's video cannot be conformed: {exc}") from exc


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, FILE_CHUNK):
            yield chunk
