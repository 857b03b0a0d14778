"""fal.ai queue API routes, as ``fal-client`` talks to ``queue.fal.run`` (served over TLS).

- ``POST /{owner}/{alias}/{path}`` submits an input: ``{request_id, status_url, response_url, cancel_url,
  queue_position}``; the three URLs use ``/{owner}/{alias}/requests/{id}`` (no endpoint path), like fal's.
- ``GET .../requests/{id}/status[?logs=1]``: ``IN_QUEUE`` (+ ``queue_position``), ``IN_PROGRESS`` or
  ``COMPLETED`` (+ ``metrics``; + ``error``/``error_type`` when the request failed or was cancelled). 202
  while not completed, 200 after. ``logs`` is a list when asked for, else null.
- ``GET .../requests/{id}``: the result ``{"video": {"url", "content_type", "file_name", "file_size"}}``;
  400 while still running; a failed request answers with its error (422 detail list for input problems,
  500 ``{detail, error_type}`` for internal ones).
- ``PUT .../requests/{id}/cancel``: 202 ``CANCELLATION_REQUESTED``, 400 ``ALREADY_COMPLETED``, 404.

Auth is ``Authorization: Key <key>``. Responses to a known request carry ``x-fal-request-id``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provider_sim.context import SimContext, get_context
from provider_sim.fal_validation import KLING_ENDPOINTS, FalInputError, parse_kling_input, shorten
from provider_sim.faults import HttpFault
from provider_sim.tasks import Task, TaskStatus

PROVIDER = "fal"
_DEFAULT_RETRY_AFTER_S = 1
# Runway-style failure codes of the shared task model -> (HTTP status, fal error type, loc).
_FAL_ERRORS: dict[str, tuple[int, str, list[str] | None]] = {
    "ASSET.INVALID": (422, "image_load_error", ["body", "image_url"]),
    "SAFETY.INPUT.TEXT": (422, "content_policy_violation", ["body", "prompt"]),
    "SAFETY.INPUT.IMAGE": (422, "content_policy_violation", ["body", "image_url"]),
    "SAFETY.OUTPUT.VIDEO": (422, "content_policy_violation", ["body"]),
}
_INTERNAL = (500, "internal_server_error", None)


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _fault_response(fault: HttpFault, kind: str) -> JSONResponse:
    headers = {"X-Provider-Sim-Fault": kind}
    retry_after = fault.retry_after
    if retry_after is None and fault.status == 429:
        retry_after = _DEFAULT_RETRY_AFTER_S
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if fault.status == 429:
        return _detail(429, "Rate limit exceeded: too many concurrent requests.", headers)
    if fault.status in (401, 403):
        return _detail(fault.status, "Authentication failed: the API key is not valid.", headers)
    error_type = "runner_scheduling_failure" if fault.status == 503 else "internal_server_error"
    headers["X-Fal-Error-Type"] = error_type
    return _detail(fault.status, f"Simulated upstream error ({fault.status}).", headers, error_type=error_type)


def api_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "key" else ""


def _reject(request: Request, ctx: SimContext) -> JSONResponse | None:
    key = api_key(request)
    request.state.api_key = key or None
    if not key:
        return _detail(401, "Missing or malformed Authorization header; expected 'Key <API key>'.")
    if not ctx.keys.accepts(PROVIDER, key):
        return _detail(401, "Authentication failed: the API key is not valid.")
    if (fault := ctx.faults.take_auth_fault(PROVIDER, key, request.path_params.get("request_id"))) is not None:
        return _fault_response(fault, "auth")
    return None


def _base(ctx: SimContext) -> str:
    return ctx.settings.tls_base_url() or ctx.settings.base_url()


def _urls(ctx: SimContext, task: Task) -> dict[str, str]:
    owner, alias = (task.endpoint or "").split("/")[:2]
    response_url = f"{_base(ctx)}/{owner}/{alias}/requests/{task.id}"
    return {
        "request_id": task.id,
        "response_url": response_url,
        "status_url": f"{response_url}/status",
        "cancel_url": f"{response_url}/cancel",
    }


def _headers(task: Task) -> dict[str, str]:
    return {"x-fal-request-id": task.id}


def _find(request: Request, ctx: SimContext) -> Task | None:
    task = ctx.store.get(request.path_params["request_id"])
    if task is None or task.provider != PROVIDER or not ctx.keys.sees(PROVIDER, api_key(request), task.api_key):
        return None
    owner, alias = (task.endpoint or "").split("/")[:2]
    if (request.path_params["owner"], request.path_params["alias"]) != (owner, alias):
        return None
    request.state.task_id = task.id
    return task


def _error_of(task: Task) -> tuple[int, str, str, list[str] | None]:
    """(HTTP status, error_type, message, loc) of a FAILED or CANCELLED task."""
    if task.status is TaskStatus.CANCELLED:
        return 400, "request_cancelled", "Request was cancelled.", None
    status, error_type, loc = _FAL_ERRORS.get(task.failure_code or "", _INTERNAL)
    return status, error_type, task.failure or "The request failed.", loc


async def submit(request: Request) -> Response:
    ctx = get_context(request)
    params = request.path_params
    endpoint = "/".join(part for part in (params["owner"], params["alias"], params.get("path", "")) if part)
    if endpoint not in KLING_ENDPOINTS:
        return _detail(404, f"Application '{endpoint}' not found.")
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    if (fault := ctx.faults.take_submit_fault(PROVIDER, api_key(request))) is not None:
        return _fault_response(fault, "submit")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _detail(422, [{"loc": ["body"], "msg": "Invalid JSON", "type": "json_invalid"}])
    try:
        parsed, kling = parse_kling_input(body, endpoint, audio=ctx.settings.kling_audio)
    except FalInputError as exc:
        return _detail(422, exc.detail)
    shown = kling.model_dump()
    image_field = "start_image_url" if "start_image_url" in shown else "image_url"
    shown[image_field] = shorten(kling.image_url)
    task = ctx.store.create(
        parsed,
        ctx.faults.take_task_faults(PROVIDER, api_key(request)),
        provider=PROVIDER,
        api_key=api_key(request),
        endpoint=endpoint,
        input=shown,
    )
    task.log("Request queued")
    request.state.task_id = task.id
    ctx.runner.start(task)
    if (delay := ctx.faults.take_submit_delay(PROVIDER, api_key(request))) > 0:
        await asyncio.sleep(delay)  # the request is queued and runs; only its id is late
    payload = {"status": "IN_QUEUE", **_urls(ctx, task), "queue_position": ctx.store.queue_position(task)}
    return JSONResponse(payload, headers=_headers(task))


def status_body(ctx: SimContext, task: Task, with_logs: bool) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {**_urls(ctx, task), "logs": list(task.logs) if with_logs else None, "metrics": {}}
    if task.status in (TaskStatus.PENDING, TaskStatus.THROTTLED):
        return 202, {"status": "IN_QUEUE", **body, "queue_position": ctx.store.queue_position(task)}
    if task.status is TaskStatus.RUNNING:
        return 202, {"status": "IN_PROGRESS", **body}
    body["status"] = "COMPLETED"
    if task.started_mono is not None and task.finished_mono is not None:
        body["metrics"] = {"inference_time": round(task.finished_mono - task.started_mono, 3)}
    if task.status is not TaskStatus.SUCCEEDED:
        _, error_type, message, _ = _error_of(task)
        body["error"] = message
        body["error_type"] = error_type
    return 200, body


async def get_status(request: Request) -> Response:
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    request_id = request.path_params["request_id"]
    if (fault := ctx.faults.take_status_fault(PROVIDER, api_key(request), request_id)) is not None:
        return _fault_response(fault, "status")
    task = _find(request, ctx)
    if task is None:
        return _detail(404, "Request not found.")
    with_logs = request.query_params.get("logs", "").lower() in ("1", "true")
    code, body = status_body(ctx, task, with_logs)
    return JSONResponse(body, status_code=code, headers=_headers(task))


async def get_result(request: Request) -> Response:
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    request_id = request.path_params["request_id"]
    if (fault := ctx.faults.take_result_fault(PROVIDER, api_key(request), request_id)) is not None:
        return _fault_response(fault, "result")
    task = _find(request, ctx)
    if task is None:
        return _detail(404, "Request not found.")
    headers = _headers(task)
    if not task.terminal:
        return _detail(400, "Request is still in progress.", headers)
    if task.status is TaskStatus.SUCCEEDED:
        video = {
            "url": task.output_url,
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": task.output_size,
        }
        return JSONResponse({"video": video}, headers=headers)
    status, error_type, message, loc = _error_of(task)
    headers["X-Fal-Error-Type"] = error_type
    if loc is not None:
        return _detail(status, [{"loc": loc, "msg": message, "type": error_type}], headers)
    return _detail(status, message, headers, error_type=error_type)


async def cancel(request: Request) -> Response:
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    request_id = request.path_params["request_id"]
    if (fault := ctx.faults.take_cancel_fault(PROVIDER, api_key(request), request_id)) is not None:
        return _fault_response(fault, "cancel")  # refused: the request runs on
    task = _find(request, ctx)
    if task is None:
        return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
    if task.terminal:
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400, headers=_headers(task))
    task.log("Cancellation requested")
    task.finished_mono = time.monotonic()
    ctx.runner.cancel(task)
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202, headers=_headers(task))


# Catch-all shapes: mounted after every other route of the app.
routes = [
    Route("/{owner}/{alias}/requests/{request_id}/status", get_status, methods=["GET"]),
    Route("/{owner}/{alias}/requests/{request_id}/cancel", cancel, methods=["PUT"]),
    Route("/{owner}/{alias}/requests/{request_id}", get_result, methods=["GET"]),
    Route("/{owner}/{alias}/{path:path}", submit, methods=["POST"]),
    Route("/{owner}/{alias}", submit, methods=["POST"]),
]
