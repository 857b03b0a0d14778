"""Runway public API routes (``X-Runway-Version: 2024-11-06``).

``POST /v1/image_to_video``, ``GET /v1/tasks/{id}``, ``DELETE /v1/tasks/{id}``:
authentication, version header, validation and fault injection at the HTTP
edge; the task lifecycle itself lives in :mod:`provider_sim.tasks`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provider_sim.context import SimContext, get_context
from provider_sim.faults import HttpFault
from provider_sim.tasks import Task
from provider_sim.validation import RequestValidationError, parse_image_to_video

RUNWAY_VERSION = "2024-11-06"
_DEFAULT_RETRY_AFTER_S = 1


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _fault_response(fault: HttpFault, kind: str) -> JSONResponse:
    headers = {"X-Provider-Sim-Fault": kind}
    retry_after = fault.retry_after
    if retry_after is None and fault.status == 429:
        retry_after = _DEFAULT_RETRY_AFTER_S
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    message = (
        "You have exceeded the rate limit for this endpoint. Please retry later."
        if fault.status == 429
        else f"Simulated upstream error ({fault.status})."
    )
    return error_response(fault.status, message, headers=headers)


def _reject(request: Request, ctx: SimContext) -> JSONResponse | None:
    """Authentication, then API version; None when the request may proceed."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip() if scheme.lower() == "bearer" else ""
    request.state.api_key = key or None
    if not key:
        return error_response(
            401,
            "Missing or malformed Authorization header; expected 'Bearer <API key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not ctx.keys.accepts("runway", key):
        return error_response(401, "Invalid API key.", headers={"WWW-Authenticate": "Bearer"})
    if (fault := ctx.faults.take_auth_fault("runway", key, request.path_params.get("task_id"))) is not None:
        return error_response(
            fault.status, "Invalid API key.", headers={"WWW-Authenticate": "Bearer", "X-Provider-Sim-Fault": "auth"}
        )
    version = request.headers.get("x-runway-version")
    if version is None:
        return error_response(400, f"Missing X-Runway-Version header; set it to '{RUNWAY_VERSION}'.")
    if version != RUNWAY_VERSION:
        return error_response(400, f"Unsupported X-Runway-Version '{version}'; supported versions: {RUNWAY_VERSION}.")
    return None


def _visible(ctx: SimContext, task_id: str, key: str | None) -> Task | None:
    """The Runway task `task_id` if the calling key's organisation owns it (see `provider_sim.keys`)."""
    task = ctx.store.get(task_id)
    if task is None or task.provider != "runway" or not ctx.keys.sees("runway", key, task.api_key):
        return None
    return task


async def create_image_to_video(request: Request) -> Response:
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    if (fault := ctx.faults.take_submit_fault("runway", request.state.api_key)) is not None:
        return _fault_response(fault, "submit")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "Request body must be valid JSON.")
    try:
        parsed = parse_image_to_video(
            body,
            strict_ratios=ctx.settings.strict_ratios,
            max_data_uri_bytes=ctx.settings.max_data_uri_bytes,
        )
    except RequestValidationError as exc:
        return error_response(400, "Validation of body failed", issues=exc.issues)
    task = ctx.store.create(
        parsed, ctx.faults.take_task_faults("runway", request.state.api_key), api_key=request.state.api_key
    )
    request.state.task_id = task.id
    ctx.runner.start(task)
    if (delay := ctx.faults.take_submit_delay("runway", request.state.api_key)) > 0:
        await asyncio.sleep(delay)  # the task exists and runs; only its id is late
    return JSONResponse({"id": task.id})


async def get_task(request: Request) -> Response:
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    task_id = request.path_params["task_id"]
    request.state.task_id = task_id
    if (fault := ctx.faults.take_status_fault("runway", request.state.api_key, task_id)) is not None:
        return _fault_response(fault, "status")
    task = _visible(ctx, task_id, request.state.api_key)
    if task is None:
        return error_response(404, "Task not found.")
    return JSONResponse(task.to_api(ctx.settings.min_task_seconds))


async def delete_task(request: Request) -> Response:
    """Cancel a task still in flight; delete a finished one (as the real API does)."""
    ctx = get_context(request)
    if (rejected := _reject(request, ctx)) is not None:
        return rejected
    task_id = request.path_params["task_id"]
    request.state.task_id = task_id
    if (fault := ctx.faults.take_cancel_fault("runway", request.state.api_key, task_id)) is not None:
        return _fault_response(fault, "cancel")  # refused: the task runs on
    task = _visible(ctx, task_id, request.state.api_key)
    if task is None:
        return error_response(404, "Task not found.")
    if task.terminal:
        ctx.store.remove(task.id)
        ctx.runner.output_path(task.id).unlink(missing_ok=True)
    else:
        ctx.runner.cancel(task)
    return Response(status_code=204)


routes = [
    Route("/v1/image_to_video", create_image_to_video, methods=["POST"]),
    Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/v1/tasks/{task_id}", delete_task, methods=["DELETE"]),
]
