"""The provider interface and the provider-neutral vocabulary the gateway understands.

An adapter speaks one provider's wire protocol with the API key it is handed for that call (the key pool leases
keys; adapters never choose one) and translates every failure into a `ProviderError` whose `kind` says what the
caller should do about it.

A submit starts paid work, and neither Runway nor fal.ai lets a client look a task up by an id of its own (Runway's
API has no idempotency key and no task listing; fal's queue has neither, only an account-wide request history). So a
submit failure is `TRANSIENT` only when the request provably never reached the provider (no connection, no pooled
connection free), and `AMBIGUOUS` whenever the body was sent but no task id came back (a read timeout, a dropped
connection, 5xx, 408/409, an answer without an id): the task may exist and is paid for, so the submit must never be
made again, on this provider or another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx

from social_video.v1 import common_pb2 as c


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED})


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    progress: float = 0.0  # 0..1
    output_urls: list[str] = field(default_factory=list)
    failure: str = ""
    failure_code: str = ""
    detail: str = ""  # the provider's own status word (e.g. THROTTLED, IN_QUEUE)
    queue_position: int | None = None  # where the task waits in the provider's own queue, when it says (fal)


@dataclass(frozen=True)
class SubmitRequest:
    image: str  # an HTTPS URL the provider can fetch, or a data URI
    prompt: str
    duration_seconds: int
    aspect_ratio: str
    with_audio: bool = False


class ErrorKind(StrEnum):
    AUTH = "auth"  # 401/403: this key is invalid; another key may work
    RATE_LIMITED = "rate_limited"  # 429: this key cools down for `retry_after_s`
    TRANSIENT = "transient"  # 5xx, timeouts, connection errors (a submit: only if nothing was sent): may succeed later
    AMBIGUOUS = "ambiguous"  # a submit that was sent but not answered with a task id: the task may exist (and cost)
    REJECTED = "rejected"  # any other 4xx, or an answer we cannot use: it will not succeed as is
    NOT_FOUND = "not_found"  # the task is unknown to the provider
    NO_KEY = "no_key"  # no valid key is left for the provider
    UNSUPPORTED = "unsupported"  # the provider (as configured) cannot make this clip; nothing was sent


RETRYABLE = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT})


class ProviderError(Exception):
    """A provider call failed; `kind` says whether and how trying again may succeed."""

    def __init__(
        self, message: str, kind: ErrorKind, *, retry_after_s: float | None = None, http_status: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after_s = retry_after_s
        self.http_status = http_status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def kind_for_status(status: int, *, submit: bool = False) -> ErrorKind:
    """The error kind of an HTTP error status (of a submit: a server error may come after the task was created)."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status >= 500 or status in (408, 409):
        return ErrorKind.AMBIGUOUS if submit else ErrorKind.TRANSIENT
    return ErrorKind.REJECTED


# The only transport failures after which a request provably never reached the server: no connection was made.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(provider: str, action: str, exc: httpx.TransportError, timeout_s: float) -> ProviderError:
    """A transport failure as a `ProviderError`: retryable when nothing was sent or when the call was a read (status,
    cancel), ambiguous when a submit's body may have reached the provider."""
    what = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, NOT_SENT):
        return ProviderError(f"{provider} {action} failed before the request was sent ({what})", ErrorKind.TRANSIENT)
    if action != "submit":
        return ProviderError(f"{provider} {action} failed: {what}", ErrorKind.TRANSIENT)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            f"submit to {provider} timed out after the request was sent (no answer within {timeout_s:.0f} s)",
            ErrorKind.AMBIGUOUS,
        )
    return ProviderError(
        f"submit to {provider} lost its connection after the request was sent ({what})", ErrorKind.AMBIGUOUS
    )


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (the delta-seconds form; an HTTP date is treated as absent)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class VideoProvider(Protocol):
    """One image-to-video provider's protocol; every call uses the API key it is given."""

    name: str  # "runway" | "kling", as stored with a submission
    rate_provider: c.VideoProvider.ValueType  # billing's rate key (with the duration)

    def check(self, request: SubmitRequest) -> None:
        """Raise `ProviderError` (`UNSUPPORTED`) when this provider cannot make the clip, before any key or call."""
        ...

    async def submit(self, request: SubmitRequest, key: str) -> str: ...

    async def status(self, task_id: str, key: str) -> TaskStatus: ...

    async def cancel(self, task_id: str, key: str) -> None: ...
