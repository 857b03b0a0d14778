"""Task model, in-memory task store and the render orchestration behind it.

One task model serves both providers (``provider`` is "runway" or "fal"); each
provider's routes render it in their own wire format.

Lifecycle: THROTTLED (only if a throttle fault applies) -> PENDING (queued for
a render slot) -> RUNNING (rendering on a worker thread, progress per frame)
-> SUCCEEDED / FAILED, or CANCELLED via DELETE at any non-terminal point.
A "never finish" fault parks a task in RUNNING until it is cancelled.

All status changes happen on the event loop. Worker threads only write
``render_progress`` (a single float store) and read ``cancel_event``, so the
two sides never need a lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from provider_sim.faults import TaskFaults, failure_message
from provider_sim.motion import parse_motion
from provider_sim.outputs import OutputSigner
from provider_sim.render import InvalidImageError, RenderCancelled, render_mp4
from provider_sim.render_cache import RenderCache, render_key
from provider_sim.settings import SimSettings
from provider_sim.sources import PromptImageError, load_prompt_image, shorten
from provider_sim.validation import ImageToVideoRequest

Signers = dict[str, OutputSigner]

log = logging.getLogger(__name__)

# Keeps an injected failure from being instantaneous, so pollers see a
# non-terminal state first, as they would against the real service.
_MIN_FAILURE_DELAY_S = 0.1
_POSITIONS_TTL_S = 0.05


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})


@dataclass
class Task:
    id: str
    request: ImageToVideoRequest
    faults: TaskFaults
    created_at: datetime
    created_mono: float
    status: TaskStatus = TaskStatus.PENDING
    render_progress: float = 0.0
    output_url: str | None = None
    output_path: Path | None = None
    failure: str | None = None
    failure_code: str | None = None
    render_seconds: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    runner: asyncio.Task[None] | None = None
    provider: str = "runway"
    api_key: str | None = None
    endpoint: str | None = None  # fal application id the request was submitted to
    input: dict[str, Any] | None = None  # provider input as submitted (data URIs shortened)
    logs: list[dict[str, str]] = field(default_factory=list)
    started_mono: float | None = None
    finished_mono: float | None = None
    output_size: int | None = None
    frame: tuple[int, int] | None = None  # the output's pixel size, once known
    image_sha256: str | None = None  # of the prompt image as fetched (which image was animated)

    def log(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.logs.append({"message": message, "level": level, "source": "user", "timestamp": stamp})

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def progress(self, min_task_seconds: float) -> float:
        value = self.render_progress
        floor_s = max(min_task_seconds, self.faults.task_seconds)
        if floor_s > 0:
            # With artificial latency the render finishes early; report
            # progress against whichever of render and clock is behind.
            value = min(value, (time.monotonic() - self.created_mono) / floor_s)
        if self.faults.never_finish:
            value = min(value, 0.9)
        return round(min(max(value, 0.0), 1.0), 4)

    def to_api(self, min_task_seconds: float) -> dict[str, Any]:
        """The task object exactly as GET /v1/tasks/{id} returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "createdAt": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self.status is TaskStatus.RUNNING:
            body["progress"] = self.progress(min_task_seconds)
        elif self.status is TaskStatus.SUCCEEDED:
            body["output"] = [self.output_url]
        elif self.status is TaskStatus.FAILED:
            body["failure"] = self.failure
            body["failureCode"] = self.failure_code
        return body

    def to_debug(self, min_task_seconds: float) -> dict[str, Any]:
        req = self.request
        return {
            **self.to_api(min_task_seconds),
            "provider": self.provider,
            "apiKey": self.api_key,
            "endpoint": self.endpoint,
            "input": self.input,
            "model": req.model,
            "ratio": req.ratio,
            "duration": req.duration,
            "fps": req.fps,
            "audio": req.audio,
            "frame": list(self.frame) if self.frame else None,
            "imageSha256": self.image_sha256,
            "seed": req.seed,
            "promptText": req.prompt_text,
            "promptImagePosition": req.prompt_image_position,
            "motion": parse_motion(req.prompt_text).value,
            "ignoredKeys": list(req.ignored_keys),
            "renderSeconds": self.render_seconds,
            "renderProgress": round(self.render_progress, 4),
            "faults": self.faults.describe(),
        }


def _image_size(image: bytes) -> tuple[int, int]:
    """The prompt image's pixel size (header only); an undecodable image fails in the render, as before."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            width, height = opened.size
            turned = opened.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientation: shown rotated a quarter turn
            return (height, width) if turned else (width, height)
    except (UnidentifiedImageError, OSError, ValueError):
        return (2, 2)


class TaskStore:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._positions: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._positions_at = 0.0

    def create(self, request: ImageToVideoRequest, faults: TaskFaults, **extra: Any) -> Task:
        task = Task(
            id=str(uuid.uuid4()),
            request=request,
            faults=faults,
            created_at=datetime.now(UTC),
            created_mono=time.monotonic(),
            **extra,
        )
        self._tasks[task.id] = task
        return task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def remove(self, task_id: str) -> Task | None:
        return self._tasks.pop(task_id, None)

    def all(self) -> list[Task]:
        return list(self._tasks.values())

    def queue_position(self, task: Task) -> int:
        """How many waiting tasks of the same provider were created before `task` (0 = next).

        Positions are computed for all waiting tasks at once and reused for a short while, so
        thousands of status polls cost one pass over the store, not one each.
        """
        now = time.monotonic()
        fresh = now - self._positions_at <= _POSITIONS_TTL_S
        if fresh and task.id not in self._positions and task.created_mono >= self._positions_at:
            # Submitted since the last pass: it queues behind everything counted then.
            self._positions[task.id] = self._counts.get(task.provider, 0)
            self._counts[task.provider] = self._positions[task.id] + 1
        elif not fresh or task.id not in self._positions:
            waiting = (TaskStatus.PENDING, TaskStatus.THROTTLED)
            queued = sorted(
                (t for t in self._tasks.values() if t.status in waiting), key=lambda t: (t.provider, t.created_mono)
            )
            self._positions, self._counts, self._positions_at = {}, {}, now
            for item in queued:
                self._positions[item.id] = self._counts.get(item.provider, 0)
                self._counts[item.provider] = self._positions[item.id] + 1
        return self._positions.get(task.id, 0)


class TaskRunner:
    def __init__(self, settings: SimSettings, work_dir: Path, signers: Signers, executor: Executor) -> None:
        self._settings = settings
        self._work_dir = work_dir
        self._signers = signers
        self._executor = executor
        self.cache = RenderCache(work_dir / "cache", enabled=settings.render_cache)
        self._slots = asyncio.Semaphore(settings.max_concurrent_renders)

    def start(self, task: Task) -> None:
        task.runner = asyncio.get_running_loop().create_task(self._run(task), name=f"task-{task.id}")

    def cancel(self, task: Task) -> None:
        """Mark a non-terminal task CANCELLED and abandon its work."""
        if task.terminal:
            return
        task.status = TaskStatus.CANCELLED
        task.cancel_event.set()
        if task.runner is not None:
            task.runner.cancel()

    async def shutdown(self, tasks: list[Task]) -> None:
        for task in tasks:
            self.cancel(task)
        runners = [t.runner for t in tasks if t.runner is not None]
        await asyncio.gather(*runners, return_exceptions=True)

    async def _run(self, task: Task) -> None:
        try:
            await self._wait_in_queue(task)
            async with self._slots:
                task.status = TaskStatus.RUNNING
                task.started_mono = time.monotonic()
                task.log("Generating video")
                if task.faults.failure_code is not None:
                    await self._hold(task, floor=_MIN_FAILURE_DELAY_S)
                    self._fail(task, task.faults.failure_code, task.faults.failure)
                    return
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._produce_output, task)
                # The input is consumed: keep no multi-megabyte data URI per task while it stays listed.
                task.request = replace(task.request, prompt_image=shorten(task.request.prompt_image))
            if task.faults.never_finish:
                task.log("Still generating")
                await asyncio.Event().wait()  # until cancelled
            await self._hold(task)
            name = f"{task.id}.mp4"
            signer = self._signers.get(task.provider) or self._signers["runway"]
            task.output_url = signer.url_for(name, expired=task.faults.expired_output)
            task.finished_mono = time.monotonic()
            task.log("Video ready")
            task.status = TaskStatus.SUCCEEDED
        except asyncio.CancelledError:
            if not task.terminal:
                task.status = TaskStatus.CANCELLED
            self.output_path(task.id).unlink(missing_ok=True)
            raise
        except RenderCancelled:
            pass
        except (PromptImageError, InvalidImageError) as exc:
            self._fail(task, "ASSET.INVALID", f"{failure_message('ASSET.INVALID')} {exc}")
        except Exception:
            log.exception("render failed for task %s", task.id)
            self._fail(task, "INTERNAL.BAD_OUTPUT.CODE01", None)

    async def _wait_in_queue(self, task: Task) -> None:
        if task.faults.throttle_seconds > 0:
            task.status = TaskStatus.THROTTLED
            await asyncio.sleep(task.faults.throttle_seconds)
            task.status = TaskStatus.PENDING
        if task.provider == "fal" and self._settings.fal_queue_seconds > 0:
            await asyncio.sleep(self._settings.fal_queue_seconds)

    async def _hold(self, task: Task, floor: float = 0.0) -> None:
        elapsed = time.monotonic() - task.created_mono
        delay = max(floor, self._settings.min_task_seconds - elapsed, task.faults.task_seconds - elapsed)
        if delay > 0:
            await asyncio.sleep(delay)

    def _fail(self, task: Task, code: str, message: str | None) -> None:
        if task.terminal:
            return
        task.failure_code = code
        task.failure = message or failure_message(code)
        task.finished_mono = time.monotonic()
        task.log(task.failure, level="ERROR")
        task.status = TaskStatus.FAILED

    def output_path(self, task_id: str) -> Path:
        return self._work_dir / f"{task_id}.mp4"

    def _produce_output(self, task: Task) -> None:
        """Worker-thread body: fetch the prompt image and render (or corrupt) the output."""
        settings = self._settings
        req = task.request
        started = time.perf_counter()
        out = self.output_path(task.id)
        image = load_prompt_image(
            req.prompt_image,
            timeout_s=settings.fetch_timeout_s,
            max_bytes=settings.max_image_bytes,
            max_data_uri_bytes=settings.max_data_uri_bytes,
        )
        task.image_sha256 = hashlib.sha256(image).hexdigest()
        width, height = task.frame = req.frame_size(*_image_size(image))
        if task.cancel_event.is_set():
            raise RenderCancelled
        if task.faults.corrupt_output:
            # Looks like an MP4 from its first bytes, but nothing after is valid.
            out.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(64 * 1024))
            task.render_progress = 1.0
        else:
            key = render_key(
                settings.render_cache_scope, image, req.prompt_text, req.duration, width, height, req.fps, req.audio
            )
            if self.cache.fetch(key, out):
                task.render_progress = 1.0
            else:

                def on_progress(fraction: float) -> None:
                    if task.cancel_event.is_set():
                        raise RenderCancelled
                    task.render_progress = fraction

                render_mp4(
                    image,
                    req.prompt_text,
                    req.duration,
                    width,
                    height,
                    out,
                    on_progress,
                    fps=req.fps,
                    audio=req.audio,
                    preset=self._settings.x264_preset,
                )
                self.cache.store(key, out)
        if task.cancel_event.is_set():
            # Cancelled between the last frame and now: nobody will fetch it.
            out.unlink(missing_ok=True)
            raise RenderCancelled
        task.output_path = out
        task.output_size = out.stat().st_size
        task.render_seconds = round(time.perf_counter() - started, 3)
