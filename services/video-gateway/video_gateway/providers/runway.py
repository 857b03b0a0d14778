"""Runway's image-to-video API over httpx (`X-Runway-Version: 2024-11-06`).

`POST /v1/image_to_video` starts a task, `GET /v1/tasks/{id}` reports it (PENDING, THROTTLED, RUNNING with
`progress`, SUCCEEDED with `output` URLs, FAILED with `failure` and `failureCode`, CANCELLED), `DELETE
/v1/tasks/{id}` cancels a running task (or deletes a finished one). Every call carries the key it is handed;
every failure is translated to a `ProviderError` at this boundary. Retries belong to the caller (the key pool
decides whether another key or a later attempt may help).

Submits go through their own client (`submit_client`): a long read timeout of their own (a slow answer is waited
for, never abandoned and sent again), and httpx's own transport, whose errors say exactly whether anything was sent
(the aiohttp transport of the status calls reports a dropped connection after sending as a connect error). A submit
that was sent but not answered with a task id is `AMBIGUOUS` (see `providers.base`).
"""

from __future__ import annotations

from typing import Any

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
    transport_error,
)
from video_gateway.providers.runway_models import RunwayModel, choose

_STATES = {
    "PENDING": TaskState.PENDING,
    "THROTTLED": TaskState.PENDING,  # queued behind the organisation's concurrency limit
    "RUNNING": TaskState.RUNNING,
    "SUCCEEDED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
    "CANCELLED": TaskState.CANCELLED,
}


def _error(response: httpx.Response, action: str) -> ProviderError:
    try:
        body = response.json()
        detail = body.get("error", response.text) if isinstance(body, dict) else response.text
    except ValueError:
        detail = response.text
    kind = kind_for_status(response.status_code, submit=action == "submit")
    if kind is ErrorKind.AMBIGUOUS:
        message = f"submit to runway answered HTTP {response.status_code} after the request was sent: {detail}"
    else:
        message = f"runway {action} failed: HTTP {response.status_code}: {detail}"
    return ProviderError(
        message[:500],
        kind,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        http_status=response.status_code,
    )


class RunwayProvider:
    name = "runway"
    rate_provider = c.VIDEO_PROVIDER_RUNWAY

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        models: tuple[RunwayModel, ...],
        version: str,
        submit_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not models:
            raise ValueError("at least one Runway model is needed")
        self._client = client
        self._submit_client = submit_client or client
        self._version = version
        self._models = models  # preferred first (RUNWAY_MODEL, then RUNWAY_FALLBACK_MODELS)

    async def _call(
        self, method: str, path: str, action: str, key: str, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", "X-Runway-Version": self._version}
        client = self._submit_client if action == "submit" else self._client
        try:
            response = await client.request(method, path, headers=headers, json=json)
        except httpx.TransportError as exc:
            raise transport_error("runway", action, exc, client.timeout.read or 0.0) from exc
        if response.status_code >= 400:
            raise _error(response, action)
        return response

    def check(self, request: SubmitRequest) -> None:
        """Raise `UNSUPPORTED` (nothing is sent) when no configured model can make the clip."""
        choice = choose(self._models, request.duration_seconds or 5, request.aspect_ratio or "9:16")
        if isinstance(choice, str):
            raise ProviderError(choice, ErrorKind.UNSUPPORTED)

    def body(self, request: SubmitRequest) -> dict[str, Any]:
        """The `POST /v1/image_to_video` body: the first configured model that can make the clip, at the largest
        ratio of the deliverable's shape it renders."""
        choice = choose(self._models, request.duration_seconds or 5, request.aspect_ratio or "9:16")
        if isinstance(choice, str):
            raise ProviderError(choice, ErrorKind.UNSUPPORTED)
        body: dict[str, Any] = {
            "model": choice.model.name,
            "promptImage": request.image,
            "promptText": request.prompt,
            "ratio": choice.ratio,
            "duration": choice.duration,
        }
        if choice.model.audio:  # priced higher with sound: asked for only when the clip keeps it
            body["audio"] = request.with_audio
        return body

    async def submit(self, request: SubmitRequest, key: str) -> str:
        response = await self._call("POST", "/v1/image_to_video", "submit", key, self.body(request))
        try:
            task_id = response.json().get("id")
        except (ValueError, AttributeError):
            task_id = None
        if not task_id:
            raise ProviderError("submit to runway was answered without a task id", ErrorKind.AMBIGUOUS)
        return str(task_id)

    async def status(self, task_id: str, key: str) -> TaskStatus:
        try:
            data = (await self._call("GET", f"/v1/tasks/{task_id}", "status", key)).json()
        except ValueError as exc:
            raise ProviderError("runway status returned invalid JSON", ErrorKind.TRANSIENT) from exc
        word = str(data.get("status", ""))
        state = _STATES.get(word)
        if state is None:
            raise ProviderError(f"runway returned unknown task status {word!r}", ErrorKind.TRANSIENT)
        return TaskStatus(
            state=state,
            progress=float(data.get("progress") or 0.0),
            output_urls=[str(u) for u in data.get("output") or []],
            failure=str(data.get("failure") or ""),
            failure_code=str(data.get("failureCode") or ""),
            detail=word,
        )

    async def cancel(self, task_id: str, key: str) -> None:
        try:
            await self._call("DELETE", f"/v1/tasks/{task_id}", "cancel", key)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:  # already gone: nothing to cancel
                raise
