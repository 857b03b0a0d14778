"""Render cache: identical inputs (image bytes, prompt, duration, frame size, frame rate, sound) give identical MP4s.

The renderer is deterministic, so a repeat of a render already done is served by hard-linking the
cached file (a copy where links are not possible) instead of encoding again. This keeps load tests
that submit thousands of jobs with the same still from being bound by the encoder. Cached files live
in ``WORK_DIR/cache`` and outlive the tasks (deleting a task's output leaves the cache entry).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def cache_key(
    image: bytes, prompt: str | None, duration: int, width: int, height: int, fps: int = 24, audio: bool = False
) -> str:
    """Everything the rendered file depends on (two models that render differently never share an entry)."""
    digest = hashlib.sha256(image)
    digest.update(f"\0{prompt or ''}\0{duration}\0{width}x{height}\0{fps}\0{int(audio)}".encode())
    return digest.hexdigest()


def render_key(
    scope: str, image: bytes, prompt: str | None, duration: int, width: int, height: int, fps: int, audio: bool
) -> str:
    """The cache key of a render under `scope`: `inputs` (everything the file depends on) or `format` (its duration,
    frame size, rate and sound only, so every render of one format shares the first one's file)."""
    if scope == "format":
        return cache_key(b"", None, duration, width, height, fps, audio)
    return cache_key(image, prompt, duration, width, height, fps, audio)


class RenderCache:
    def __init__(self, directory: Path, enabled: bool = True) -> None:
        self._dir = directory
        self.enabled = enabled
        self.hits = 0

    def _path(self, key: str) -> Path:
        return self._dir / f"{key}.mp4"

    @staticmethod
    def _place(source: Path, target: Path) -> None:
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)

    def fetch(self, key: str, out: Path) -> bool:
        """Put the cached render for `key` at `out`; False when there is none."""
        if not self.enabled:
            return False
        cached = self._path(key)
        try:
            self._place(cached, out)
        except FileNotFoundError:
            return False
        self.hits += 1
        return True

    def store(self, key: str, out: Path) -> None:
        if not self.enabled:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = self._dir / f".{key}.{os.getpid()}.{id(out)}.tmp"
        self._place(out, tmp)
        os.replace(tmp, self._path(key))
