"""A video provider adapter that records each call's latency and, when it fails, its error kind (metrics only: the
calls themselves are traced by the HTTP instrumentation)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from svd.telemetry import metrics
from video_gateway.providers.base import ProviderError, SubmitRequest, TaskStatus, VideoProvider

T = TypeVar("T")


class MeteredProvider:
    """Wraps one adapter; same protocol, same errors."""

    def __init__(self, adapter: VideoProvider) -> None:
        self._adapter = adapter
        self.name = adapter.name
        self.rate_provider = adapter.rate_provider

    def check(self, request: SubmitRequest) -> None:
        self._adapter.check(request)  # no call is made: nothing to measure

    async def submit(self, request: SubmitRequest, key: str) -> str:
        return await self._measured("submit", self._adapter.submit(request, key))

    async def status(self, task_id: str, key: str) -> TaskStatus:
        return await self._measured("status", self._adapter.status(task_id, key))

    async def cancel(self, task_id: str, key: str) -> None:
        await self._measured("cancel", self._adapter.cancel(task_id, key))

    async def _measured(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except ProviderError as exc:
            metrics.provider_call(self.name, operation, time.perf_counter() - started, exc.kind.value)
            raise
        except Exception:
            metrics.provider_call(self.name, operation, time.perf_counter() - started, "unexpected")
            raise
        metrics.provider_call(self.name, operation, time.perf_counter() - started)
        return result
