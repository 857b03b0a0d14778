"""Simulator control plane under ``/_sim`` (not part of any provider's API).

``POST/GET/DELETE /_sim/faults`` configure fault injection; ``GET /_sim/tasks``
lists every task with debugging detail (``?provider=fal`` filters);
``GET/POST /_sim/keys`` shows and changes the accepted API keys;
``GET/DELETE /_sim/requests`` reads and clears the request journal.
Unauthenticated: the simulator is a test fixture bound to loopback.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provider_sim.context import get_context
from provider_sim.faults import FaultConfig
from provider_sim.keys import KeyChange


def _invalid(exc: ValidationError, what: str) -> JSONResponse:
    issues = [{"path": list(err["loc"]), "message": err["msg"], "code": err["type"]} for err in exc.errors()]
    return JSONResponse({"error": f"Invalid {what}", "issues": issues}, status_code=400)


async def set_faults(request: Request) -> Response:
    ctx = get_context(request)
    try:
        config = FaultConfig.model_validate(json.loads(await request.body() or b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"error": "Request body must be valid JSON."}, status_code=400)
    except ValidationError as exc:
        return _invalid(exc, "fault configuration")
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
    provider = request.query_params.get("provider")
    tasks = [t.to_debug(min_seconds) for t in ctx.store.all() if provider in (None, t.provider)]
    return JSONResponse({"tasks": tasks})


async def get_keys(request: Request) -> Response:
    return JSONResponse({"keys": get_context(request).keys.snapshot()})


async def change_keys(request: Request) -> Response:
    ctx = get_context(request)
    try:
        change = KeyChange.model_validate(json.loads(await request.body() or b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"error": "Request body must be valid JSON."}, status_code=400)
    except ValidationError as exc:
        return _invalid(exc, "key change")
    ctx.keys.apply(change)
    return JSONResponse({"keys": ctx.keys.snapshot()})


async def list_requests(request: Request) -> Response:
    return JSONResponse({"requests": get_context(request).journal.query(request.query_params)})


async def clear_requests(request: Request) -> Response:
    get_context(request).journal.clear()
    return Response(status_code=204)


routes = [
    Route("/_sim/faults", set_faults, methods=["POST"]),
    Route("/_sim/faults", get_faults, methods=["GET"]),
    Route("/_sim/faults", reset_faults, methods=["DELETE"]),
    Route("/_sim/tasks", list_tasks, methods=["GET"]),
    Route("/_sim/keys", get_keys, methods=["GET"]),
    Route("/_sim/keys", change_keys, methods=["POST"]),
    Route("/_sim/requests", list_requests, methods=["GET"]),
    Route("/_sim/requests", clear_requests, methods=["DELETE"]),
]
