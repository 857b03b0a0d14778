"""The provider interface and the provider-neutral task status the poll loop understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    progress: float = 0.0
    output_urls: list[str] = field(default_factory=list)
    failure: str = ""
    failure_code: str = ""


@dataclass(frozen=True)
class SubmitRequest:
    image_url: str
    prompt: str
    duration_seconds: int
    aspect_ratio: str


class ProviderError(Exception):
    """A provider call failed; `retryable` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class VideoProvider(Protocol):
    name: str

    async def submit(self, request: SubmitRequest) -> str: ...

    async def status(self, task_id: str) -> TaskStatus: ...

    async def cancel(self, task_id: str) -> None: ...
