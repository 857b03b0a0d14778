"""A provider adapter bound to its key pool: submits lease a key, status and cancel calls use the submitting key.

A submit leases the least recently used key. A 401/403 marks the key invalid and the submit is made again with
another key; a 429 (Runway's daily cap, a rate limit) cools the key down and moves to another key while one is free;
a request that never left (no connection) is retried with backoff honouring `Retry-After`, within a deadline. Each
of these is safe to repeat because the provider refused or never saw the request. A submit whose body may have
reached the provider (`AMBIGUOUS`) is never repeated: it is raised to the caller, who must not submit it elsewhere.
Every attempt is written to the caller's `AttemptLog` before the request goes out, and cleared only when the
provider provably created nothing, so a crash mid-call leaves a record of a possibly paid task.

A provider task belongs to the organisation of the key that created it: status and cancel calls are made with that
key (`key_id`, recorded with the submission), never with another pool key (which would get 404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from video_gateway.keypool import KeyPool, Lease
from video_gateway.providers.base import ErrorKind, ProviderError, SubmitRequest, TaskStatus, VideoProvider

T = TypeVar("T")

# How many times one call may move to another key (each move invalidates or cools down one key).
MAX_KEY_SWITCHES = 8
# A single Retry-After never holds a submit longer than this (the deadline bounds the total).
MAX_RETRY_WAIT_S = 10.0


class AttemptLog(Protocol):
    """Where a submit records its attempts, durably, around each provider call."""

    async def begin(self, provider: str, key_id: int) -> None:
        """Before the request is sent: this key is about to submit to this provider."""

    async def clear(self) -> None:
        """The request provably created nothing (refused, or never sent)."""


@dataclass(frozen=True)
class Submitted:
    task_id: str
    key_id: int
    key_label: str


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
        self._submit_attempts = max(1, submit_attempts)
        self._submit_deadline_s = submit_deadline_s
        self._backoff_s = backoff_s

    async def submit(self, request: SubmitRequest, job_id: str, attempts: AttemptLog) -> Submitted:
        """Submit once: retried only where the provider refused it or never received it, until `submit_attempts`
        tries or `submit_deadline_s` (no request starts after it, so a submit lasts at most the deadline plus one
        request's timeout). Raises `ProviderError`; `AMBIGUOUS` at once."""
        self.adapter.check(request)  # a clip the provider cannot make costs no key and no call
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._submit_deadline_s
        tries = 0
        while True:
            tries += 1
            try:
                return await self._submit_with_a_key(request, job_id, attempts, deadline)
            except ProviderError as exc:
                if not exc.retryable or tries >= self._submit_attempts:
                    raise
                wait = self._wait(tries, exc.retry_after_s)
                # A key frees up only after the deadline (a daily cap): give up now, not after waiting in vain.
                if loop.time() + max(wait, exc.retry_after_s or 0.0) >= deadline:
                    raise
            await asyncio.sleep(wait)

    async def _submit_with_a_key(
        self, request: SubmitRequest, job_id: str, attempts: AttemptLog, deadline: float
    ) -> Submitted:
        switches = 0
        while True:
            lease = await self._pool.lease(self.name)  # NO_KEY, or RATE_LIMITED while every key cools down
            await attempts.begin(self.name, lease.key_id)
            try:
                task_id = await self.adapter.submit(request, lease.secret)
            except ProviderError as exc:
                self._pool.record(lease, "submit", exc.kind.value, exc.http_status, job_id)
                if exc.kind is ErrorKind.AMBIGUOUS:
                    raise  # the attempt stays recorded: the task may exist
                await attempts.clear()
                if exc.kind not in (ErrorKind.AUTH, ErrorKind.RATE_LIMITED):
                    raise
                await self._set_aside(lease, exc)
                if switches >= MAX_KEY_SWITCHES or asyncio.get_running_loop().time() >= deadline:
                    raise
                switches += 1
                continue
            self._pool.record(lease, "submit", "ok", 0, job_id)
            return Submitted(task_id, lease.key_id, lease.label)

    async def status(self, task_id: str, job_id: str, key_id: int | None) -> TaskStatus:
        return await self._with_owner("status", task_id, job_id, key_id, lambda key: self.adapter.status(task_id, key))

    async def cancel(self, task_id: str, job_id: str, key_id: int | None) -> None:
        await self._with_owner("cancel", task_id, job_id, key_id, lambda key: self.adapter.cancel(task_id, key))

    async def _with_owner(
        self, action: str, task_id: str, job_id: str, key_id: int | None, call: Callable[[str], Awaitable[T]]
    ) -> T:
        """`call` with the key that submitted `task_id` (any pool key for a submission recorded without one)."""
        if key_id is None:
            return await self._with_any_key(action, job_id, call)
        lease = await self._pool.key(self.name, key_id)
        try:
            result = await call(lease.secret)
        except ProviderError as exc:
            self._pool.record(lease, action, exc.kind.value, exc.http_status, job_id)
            if exc.kind is ErrorKind.RATE_LIMITED:
                await self._pool.cool_down(lease, exc.retry_after_s)
            if exc.kind is ErrorKind.AUTH:
                await self._pool.invalidate(lease, f"HTTP {exc.http_status}: {exc.message}")
            if exc.kind in (ErrorKind.AUTH, ErrorKind.NOT_FOUND):
                raise ProviderError(
                    f"{exc.message} (with {self.name} key {lease.label}, which submitted task {task_id}: "
                    "no other key can reach it)",
                    exc.kind,
                    retry_after_s=exc.retry_after_s,
                    http_status=exc.http_status,
                ) from exc
            raise
        self._pool.record(lease, action, "ok", 0, job_id)
        return result

    async def _with_any_key(self, action: str, job_id: str, call: Callable[[str], Awaitable[T]]) -> T:
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
                await self._set_aside(lease, exc)
                continue
            self._pool.record(lease, action, "ok", 0, job_id)
            return result

    async def _set_aside(self, lease: Lease, exc: ProviderError) -> None:
        if exc.kind is ErrorKind.AUTH:
            await self._pool.invalidate(lease, f"HTTP {exc.http_status}: {exc.message}")
        else:
            await self._pool.cool_down(lease, exc.retry_after_s)

    def _wait(self, tries: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, MAX_RETRY_WAIT_S)
        return min(self._backoff_s * 2 ** (tries - 1), MAX_RETRY_WAIT_S)
