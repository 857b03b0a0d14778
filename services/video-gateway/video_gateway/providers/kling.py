"""Kling image-to-video through fal.ai's queue API, with the `fal-client` library.

Submit (`POST https://queue.fal.run/{endpoint}`), status (IN_QUEUE, IN_PROGRESS, COMPLETED — a completed request
may carry `error`), result (the `video.url` of the response) and cancel (`PUT …/cancel`). The host comes from
fal-client's own `FAL_QUEUE_RUN_HOST` variable and TLS trust from the environment, so the same code reaches fal.ai
or a local stand-in. One `fal_client.AsyncClient` per key (keys are few; each holds a connection pool).

fal-client itself retries 408/409/429 and connection errors with a short jittered backoff before an error reaches
this adapter; what is left is translated to `ProviderError` here.
"""

from __future__ import annotations

from typing import Any

import fal_client
import httpx

from social_video.v1 import common_pb2 as c
from video_gateway.providers.base import (
    ErrorKind,
    ProviderError,
    SubmitRequest,
    TaskState,
    TaskStatus,
    kind_for_status,
    parse_retry_after,
)

DEFAULT_ENDPOINT = "fal-ai/kling-video/v1.6/standard/image-to-video"
_CANCELLED_HINT = "cancel"


def _error(exc: Exception, action: str) -> ProviderError:
    if isinstance(exc, fal_client.FalClientHTTPError):
        headers = {k.lower(): v for k, v in exc.response_headers.items()}
        return ProviderError(
            f"kling {action} failed: HTTP {exc.status_code}: {exc.message}"[:500],
            kind_for_status(exc.status_code),
            retry_after_s=parse_retry_after(headers.get("retry-after")),
            http_status=exc.status_code,
        )
    return ProviderError(f"kling {action} failed: {type(exc).__name__}: {exc}"[:500], ErrorKind.TRANSIENT)


_ERRORS = (fal_client.FalClientError, httpx.HTTPError, ValueError, KeyError, TypeError)


class KlingProvider:
    name = "kling"
    rate_provider = c.VIDEO_PROVIDER_KLING

    def __init__(
        self, *, endpoint: str = DEFAULT_ENDPOINT, negative_prompt: str, cfg_scale: float, timeout_s: float
    ) -> None:
        self._endpoint = endpoint
        self._negative_prompt = negative_prompt
        self._cfg_scale = cfg_scale
        self._timeout_s = timeout_s
        self._clients: dict[str, fal_client.AsyncClient] = {}

    def _client(self, key: str) -> fal_client.AsyncClient:
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = fal_client.AsyncClient(key=key, default_timeout=self._timeout_s)
        return client

    def arguments(self, request: SubmitRequest) -> dict[str, Any]:
        """The endpoint's input: the still, the motion prompt and the clip length ("5" or "10")."""
        arguments: dict[str, Any] = {
            "prompt": request.prompt,
            "image_url": request.image,
            "duration": "10" if request.duration_seconds == 10 else "5",
            "cfg_scale": self._cfg_scale,
        }
        if self._negative_prompt:
            arguments["negative_prompt"] = self._negative_prompt
        return arguments

    async def submit(self, request: SubmitRequest, key: str) -> str:
        try:
            handle = await self._client(key).submit(self._endpoint, self.arguments(request))
        except _ERRORS as exc:
            raise _error(exc, "submit") from exc
        return str(handle.request_id)

    async def status(self, task_id: str, key: str) -> TaskStatus:
        client = self._client(key)
        try:
            status = await client.status(self._endpoint, task_id)
        except _ERRORS as exc:
            raise _error(exc, "status") from exc
        if isinstance(status, fal_client.Queued):
            return TaskStatus(TaskState.PENDING, detail="IN_QUEUE")
        if isinstance(status, fal_client.InProgress):
            return TaskStatus(TaskState.RUNNING, detail="IN_PROGRESS")
        if not isinstance(status, fal_client.Completed):
            raise ProviderError(f"kling returned an unknown status {status!r}", ErrorKind.TRANSIENT)
        if status.error:
            cancelled = _CANCELLED_HINT in f"{status.error_type or ''} {status.error}".lower()
            return TaskStatus(
                TaskState.CANCELLED if cancelled else TaskState.FAILED,
                failure=str(status.error),
                failure_code=str(status.error_type or ""),
                detail="COMPLETED",
            )
        return await self._result(client, task_id)

    async def _result(self, client: fal_client.AsyncClient, task_id: str) -> TaskStatus:
        try:
            result = await client.result(self._endpoint, task_id)
        except fal_client.FalClientHTTPError as exc:
            error = _error(exc, "result")
            if error.kind is ErrorKind.REJECTED:  # e.g. 422: the model rejected the input
                return TaskStatus(TaskState.FAILED, failure=exc.message, failure_code=str(exc.error_type or ""))
            raise error from exc
        except _ERRORS as exc:
            raise _error(exc, "result") from exc
        video = result.get("video") if isinstance(result, dict) else None
        url = video.get("url") if isinstance(video, dict) else None
        if not url:
            return TaskStatus(TaskState.FAILED, failure="the result has no video URL", detail="COMPLETED")
        return TaskStatus(TaskState.SUCCEEDED, progress=1.0, output_urls=[str(url)], detail="COMPLETED")

    async def cancel(self, task_id: str, key: str) -> None:
        try:
            await self._client(key).cancel(self._endpoint, task_id)
        except fal_client.FalClientHTTPError as exc:
            if exc.status_code in (400, 404):  # ALREADY_COMPLETED / NOT_FOUND: nothing left to cancel
                return
            raise _error(exc, "cancel") from exc
        except _ERRORS as exc:
            raise _error(exc, "cancel") from exc
