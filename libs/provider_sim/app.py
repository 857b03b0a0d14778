"""Starlette application factory: wires settings, shared state, routes and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provider_sim import control, fal, openai_images, runway
from provider_sim.context import SimContext, get_context
from provider_sim.faults import FaultPlan
from provider_sim.journal import JournalMiddleware, RequestJournal
from provider_sim.keys import KeyRing
from provider_sim.outputs import OutputSigner, serve_output
from provider_sim.settings import SimSettings
from provider_sim.tasks import TaskRunner, TaskStore

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods get JSON like every other error, so
    # clients can always parse {"error": ...}.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _work_dir(settings: SimSettings) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if settings.work_dir is not None:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        return settings.work_dir, None
    # TemporaryDirectory also cleans up at garbage collection / interpreter exit,
    # covering apps that are built but never run through their lifespan.
    temp = tempfile.TemporaryDirectory(prefix="provider_sim_", ignore_cleanup_errors=True)
    return Path(temp.name), temp


def create_app(settings: SimSettings | None = None) -> Starlette:
    settings = settings or SimSettings()
    work_dir, temp_dir = _work_dir(settings)
    secret = (settings.signing_secret or secrets.token_hex(32)).encode()
    signer = OutputSigner(secret, settings.base_url(), settings.output_ttl_s)
    # fal hands out https CDN links: its outputs are served from the TLS listener when there is one.
    fal_signer = OutputSigner(secret, settings.tls_base_url() or settings.base_url(), settings.output_ttl_s)
    executor = ThreadPoolExecutor(settings.max_concurrent_renders, thread_name_prefix="render")
    journal = RequestJournal(settings.journal_capacity)
    context = SimContext(
        settings=settings,
        work_dir=work_dir,
        temp_dir=temp_dir,
        store=TaskStore(),
        runner=TaskRunner(settings, work_dir, {"runway": signer, "fal": fal_signer}, executor),
        faults=FaultPlan(),
        signer=signer,
        executor=executor,
        keys=KeyRing(settings),
        journal=journal,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "provider_sim serving %s (TLS %s), outputs in %s", settings.base_url(), settings.tls_base_url(), work_dir
        )
        try:
            yield
        finally:
            await context.runner.shutdown(context.store.all())
            # Workers notice cancellation within a frame, so this wait is short.
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
            if temp_dir is not None:
                temp_dir.cleanup()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/outputs/{name}", serve_output, methods=["GET"]),
            *runway.routes,
            *control.routes,
            *openai_images.routes,
            *fal.routes,  # catch-all path shapes (/{owner}/{alias}/...): keep last
        ],
        middleware=[Middleware(JournalMiddleware, journal=journal)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.sim = context
    return app


__all__ = ["create_app", "get_context"]
