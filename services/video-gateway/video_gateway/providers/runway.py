"""Runway's image-to-video API over httpx (`POST /v1/image_to_video`, `GET`/`DELETE /v1/tasks/{id}`).

Transient failures (5xx, 429, timeouts, connection errors) of a submit are retried with exponential backoff by
tenacity, honouring `Retry-After`; everything else is translated to `ProviderError` at this boundary.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from video_gateway.providers.base import ProviderError, SubmitRequest, TaskState, TaskStatus

_STATES = {
    "PENDING": TaskState.PENDING,
    "THROTTLED": TaskState.PENDING,
    "RUNNING": TaskState.RUNNING,
    "SUCCEEDED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
    "CANCELLED": TaskState.CANCELLED,
}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _error(response: httpx.Response, action: str) -> ProviderError:
    try:
        detail = response.json().get("error", response.text)
    except ValueError:
        detail = response.text
    retryable = response.status_code == 429 or response.status_code >= 500
    return ProviderError(
        f"runway {action} failed: HTTP {response.status_code}: {detail}"[:500],
        retryable=retryable,
        retry_after_s=_retry_after(response),
    )


class RunwayProvider:
    name = "runway"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        model: str,
        ratio_portrait: str,
        ratio_square: str,
        version: str,
        submit_attempts: int,
    ) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}", "X-Runway-Version": version}
        self._model = model
        self._ratios = {"9:16": ratio_portrait, "1:1": ratio_square}
        self._attempts = submit_attempts

    async def _call(self, method: str, path: str, action: str, json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self._client.request(method, path, headers=self._headers, json=json)
        except httpx.TransportError as exc:
            raise ProviderError(f"runway {action} failed: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise _error(response, action)
        return response

    async def submit(self, request: SubmitRequest) -> str:
        body = {
            "model": self._model,
            "promptImage": request.image_url,
            "promptText": request.prompt,
            "ratio": self._ratios[request.aspect_ratio],
            "duration": request.duration_seconds,
        }
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=_wait_for_retry,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await self._call("POST", "/v1/image_to_video", "submit", body)
        task_id = response.json().get("id")
        if not task_id:
            raise ProviderError("runway submit returned no task id", retryable=False)
        return str(task_id)

    async def status(self, task_id: str) -> TaskStatus:
        data = (await self._call("GET", f"/v1/tasks/{task_id}", "status")).json()
        state = _STATES.get(str(data.get("status", "")))
        if state is None:
            raise ProviderError(f"runway returned unknown task status {data.get('status')!r}", retryable=True)
        return TaskStatus(
            state=state,
            progress=float(data.get("progress") or 0.0),
            output_urls=[str(u) for u in data.get("output") or []],
            failure=str(data.get("failure") or ""),
            failure_code=str(data.get("failureCode") or ""),
        )

    async def cancel(self, task_id: str) -> None:
        try:
            await self._call("DELETE", f"/v1/tasks/{task_id}", "cancel")
        except ProviderError as exc:
            if "HTTP 404" not in exc.message:
                raise


_exponential = wait_exponential(multiplier=1, min=1, max=20)


def _wait_for_retry(retry_state: Any) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, ProviderError) and exc.retry_after_s is not None:
        return min(exc.retry_after_s, 60.0)
    return float(_exponential(retry_state))
