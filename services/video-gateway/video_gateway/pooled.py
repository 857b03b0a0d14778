"""A provider adapter bound to its key pool: every call leases a key, and the answer updates the pool.

A 401/403 marks the key invalid and the call is made again with another key; a 429 cools the key down and the call
moves to another key while one is free. Each call is recorded as a usage event of its key. Submits are also
retried over time (exponential backoff honouring `Retry-After`, within a deadline) when the provider is briefly
unavailable; status checks are not (the poll loop simply checks again at its next tick).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from video_gateway.keypool import KeyPool
from video_gateway.providers.base import ErrorKind, ProviderError, SubmitRequest, TaskStatus, VideoProvider

T = TypeVar("T")

# How many times one call may move to another key (each move invalidates or cools down one key).
MAX_KEY_SWITCHES = 8
# A single Retry-After never holds a submit longer than this (the deadline bounds the total).
MAX_RETRY_WAIT_S = 10.0


class PooledProvider:
    def __init__(
        self,
        adapter: VideoProvider,
        pool: KeyPool,
        *,
        submit_attempts: int,
        submit_deadline_s: float,
        backoff_s: float = 1.0,
    ) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.rate_provider = adapter.rate_provider
        self._pool = pool
        self._submit_attempts = submit_attempts
        self._submit_deadline_s = submit_deadline_s
        self._exponential = wait_exponential(multiplier=backoff_s, min=backoff_s, max=MAX_RETRY_WAIT_S)

    async def submit(self, request: SubmitRequest, job_id: str) -> str:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._submit_attempts) | stop_after_delay(self._submit_deadline_s),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._with_key("submit", job_id, lambda key: self.adapter.submit(request, key))
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def status(self, task_id: str, job_id: str) -> TaskStatus:
        return await self._with_key("status", job_id, lambda key: self.adapter.status(task_id, key))

    async def cancel(self, task_id: str, job_id: str) -> None:
        await self._with_key("cancel", job_id, lambda key: self.adapter.cancel(task_id, key))

    async def _with_key(self, action: str, job_id: str, call: Callable[[str], Awaitable[T]]) -> T:
        switches = 0
        while True:
            lease = await self._pool.lease(self.name)
            try:
                result = await call(lease.secret)
            except ProviderError as exc:
                self._pool.record(lease, action, exc.kind.value, exc.http_status, job_id)
                if switches >= MAX_KEY_SWITCHES or exc.kind not in (ErrorKind.AUTH, ErrorKind.RATE_LIMITED):
                    raise
                switches += 1
                if exc.kind is ErrorKind.AUTH:
                    await self._pool.invalidate(lease, f"HTTP {exc.http_status}: {exc.message}")
                else:
                    await self._pool.cool_down(lease, exc.retry_after_s)
                continue
            self._pool.record(lease, action, "ok", 0, job_id)
            return result

    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, MAX_RETRY_WAIT_S)
        return float(self._exponential(retry_state))
