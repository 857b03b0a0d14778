"""Simulator control plane under ``/_sim`` (not part of Runway's API).

``POST/GET/DELETE /_sim/faults`` configure fault injection; ``GET /_sim/tasks``
lists every task with debugging detail. Unauthenticated: the simulator is a
test fixture bound to loopback.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provider_sim.context import get_context
from provider_sim.faults import FaultConfig


async def set_faults(request: Request) -> Response:
    ctx = get_context(request)
    try:
        config = FaultConfig.model_validate(json.loads(await request.body() or b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"error": "Request body must be valid JSON."}, status_code=400)
    except ValidationError as exc:
        issues = [{"path": list(err["loc"]), "message": err["msg"], "code": err["type"]} for err in exc.errors()]
        return JSONResponse({"error": "Invalid fault configuration", "issues": issues}, status_code=400)
    ctx.faults.apply(config)
    return JSONResponse({"faults": ctx.faults.snapshot()})


async def get_faults(request: Request) -> Response:
    return JSONResponse({"faults": get_context(request).faults.snapshot()})


async def reset_faults(request: Request) -> Response:
    get_context(request).faults.reset()
    return Response(status_code=204)


async def list_tasks(request: Request) -> Response:
    ctx = get_context(request)
    min_seconds = ctx.settings.min_task_seconds
    return JSONResponse({"tasks": [t.to_debug(min_seconds) for t in ctx.store.all()]})


routes = [
    Route("/_sim/faults", set_faults, methods=["POST"]),
    Route("/_sim/faults", get_faults, methods=["GET"]),
    Route("/_sim/faults", reset_faults, methods=["DELETE"]),
    Route("/_sim/tasks", list_tasks, methods=["GET"]),
]
