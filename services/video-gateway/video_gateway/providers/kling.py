"""Kling image-to-video through fal.ai's queue API, with the `fal-client` library.

Submit (`POST https://queue.fal.run/{endpoint}`), status (IN_QUEUE, IN_PROGRESS, COMPLETED — a completed request
may carry `error`), result (the `video.url` of the response) and cancel (`PUT …/cancel`). The host comes from
fal-client's own `FAL_QUEUE_RUN_HOST` variable and TLS trust from the environment, so the same code reaches fal.ai
or a local stand-in. One `fal_client.AsyncClient` per key (keys are few; each holds a connection pool).

fal-client itself retries 408/409/429 and connection errors with a short jittered backoff before an error reaches
this adapter; what is left is translated to `ProviderError` here.

The submit is the one call not made through fal-client: its retry loop also resends the POST after a read timeout, a
dropped connection, 408/409 or an ingress 5xx, any of which may follow a request fal already queued (and bills). The
same POST (`https://{FAL_QUEUE_RUN_HOST}/{endpoint}`, `Authorization: Key …`, the JSON input) goes through
`submit_client` (fal-client's own backup-domain transport, so a connection refused by `queue.fal.run` still moves to
`queue.falrun.com`), once: only a request that provably never left is retried, by the caller (see `providers.base`).
"""

from __future__ import annotations

from typing import Any

import fal_client
import fal_client.client
import httpx
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

from social_video.v1 import common_pb2 as c
from video_gateway.providers.base import (
    ErrorKind,
    ProviderError,
    SubmitRequest,
    TaskState,
    TaskStatus,
    kind_for_status,
    parse_retry_after,
    transport_error,
)

DEFAULT_ENDPOINT = "fal-ai/kling-video/v1.6/standard/image-to-video"
DURATIONS = (5, 10)


def _generates_audio(endpoint: str) -> bool:
    """Kling v2.6 endpoints take `start_image_url` and `generate_audio` (true unless sent false)."""
    return "/v2.6/" in endpoint


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


def submit_client(timeout_s: float, connect_timeout_s: float) -> httpx.AsyncClient:
    """The client of fal submits: fal-client's transport (backup domain on connection errors), traced, no retries."""
    return httpx.AsyncClient(
        transport=AsyncOpenTelemetryTransport(fal_client.client.AsyncBackupDomainTransport()),
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s),
    )


def _submit_error(response: httpx.Response) -> ProviderError:
    try:
        body = response.json()
        detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    except ValueError:
        detail = response.text
    kind = kind_for_status(response.status_code, submit=True)
    if kind is ErrorKind.AMBIGUOUS:
        message = f"submit to kling answered HTTP {response.status_code} after the request was sent: {detail}"
    else:
        message = f"kling submit failed: HTTP {response.status_code}: {detail}"
    return ProviderError(
        message[:500],
        kind,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        http_status=response.status_code,
    )


class KlingProvider:
    name = "kling"
    rate_provider = c.VIDEO_PROVIDER_KLING

    def __init__(
        self,
        submitter: httpx.AsyncClient,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        negative_prompt: str,
        cfg_scale: float,
        timeout_s: float,
    ) -> None:
        self._submitter = submitter
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

    def check(self, request: SubmitRequest) -> None:
        """Kling renders 5 or 10 s; its output's aspect follows the input image (no `aspect_ratio` is sent: only the
        v1.6 pro endpoint takes one), and the image already has the deliverable's aspect."""
        if request.duration_seconds not in DURATIONS:
            raise ProviderError(
                f"kling has no {request.duration_seconds} s clip (it renders 5/10 s)", ErrorKind.UNSUPPORTED
            )

    def arguments(self, request: SubmitRequest) -> dict[str, Any]:
        """The endpoint's input: the image, the motion prompt and the clip length ("5" or "10"); the output takes the
        image's aspect."""
        arguments: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": "10" if request.duration_seconds == 10 else "5",
            "cfg_scale": self._cfg_scale,
        }
        if _generates_audio(self._endpoint):  # v2.6 renamed the image and makes sound unless told not to (2x price)
            arguments["start_image_url"] = request.image
            arguments["generate_audio"] = request.with_audio
        else:
            arguments["image_url"] = request.image
        if self._negative_prompt:
            arguments["negative_prompt"] = self._negative_prompt
        return arguments

    async def submit(self, request: SubmitRequest, key: str) -> str:
        # Read at call time, as fal-client reads it (from FAL_QUEUE_RUN_HOST when imported).
        url = fal_client.client.QUEUE_URL_FORMAT + self._endpoint
        headers = {"Authorization": f"Key {key}", "User-Agent": fal_client.client.USER_AGENT}
        try:
            response = await self._submitter.post(url, json=self.arguments(request), headers=headers)
        except httpx.TransportError as exc:
            raise transport_error("kling", "submit", exc, self._submitter.timeout.read or 0.0) from exc
        if response.status_code >= 400:
            raise _submit_error(response)
        try:
            request_id = response.json().get("request_id")
        except (ValueError, AttributeError):
            request_id = None
        if not request_id:
            raise ProviderError("submit to kling was answered without a request id", ErrorKind.AMBIGUOUS)
        return str(request_id)

    async def status(self, task_id: str, key: str) -> TaskStatus:
        client = self._client(key)
        try:
            status = await client.status(self._endpoint, task_id)
        except _ERRORS as exc:
            raise _error(exc, "status") from exc
        if isinstance(status, fal_client.Queued):
            return TaskStatus(TaskState.PENDING, detail="IN_QUEUE", queue_position=status.position)
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
