"""Process lifecycle of a service: logging (with trace ids), telemetry, signal handling and graceful shutdown.

A service's `__main__` calls `run_service(name, main)`; `main(stop)` opens its resources with `async with`, serves,
and returns once `stop` is set (SIGTERM or SIGINT).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from faststream.nats import NatsBroker

from svd.apikeys import DatabaseKeyStore, migrate_keys
from svd.db import create_engine
from svd.grpc.auth import KeyStore, StaticKeyStore
from svd.grpc.connect import ASGIApp, connect_app, start_http
from svd.grpc.server import ServiceBinding, start_server, tls_credentials
from svd.settings import BaseServiceSettings, DatabaseSettings
from svd.telemetry import setup_telemetry, shutdown_telemetry
from svd.telemetry.logs import configure_logging
from svd.telemetry.settings import TelemetrySettings

# Young objects are collected after this many allocations (Python's default is 700): a service allocates many
# short-lived objects per request, and collecting that often promoted live ones to the older generations, whose
# collections then walked the whole heap (a fifth of the webhook worker's CPU before this and `freeze`).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Set the process's garbage collector up for serving, once its modules are imported: what exists now (modules,
    classes, descriptors) lives as long as the process, so it is frozen out of every later collection, and young
    objects are collected less often (`GC_YOUNG_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def run_service(service_name: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main` until SIGTERM/SIGINT, with telemetry named `service_name` (the service's folder name)."""
    telemetry = TelemetrySettings()
    configure_logging(service_name, telemetry.log_level, telemetry.log_format)  # every record carries its trace id
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)
    setup_telemetry(service_name, telemetry)
    tune_gc()

    async def supervise() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        asyncio.run(supervise())
    finally:
        shutdown_telemetry()


async def serve_until_stopped(
    settings: BaseServiceSettings,
    stop: asyncio.Event,
    bindings: Sequence[ServiceBinding] = (),
    broker: NatsBroker | None = None,
    http_fallback: ASGIApp | None = None,
) -> None:
    """Start the bus consumers and the gRPC server (health and reflection included), run until `stop`, then drain.

    With `HTTP_LISTEN` set, the bindings that have a Connect application are served there too, and whatever else is
    asked of that listener goes to `http_fallback` (the dispatcher's console); a service with neither opens no
    HTTP listener.

    Callers authenticate with the configured keys (`SVD_API_KEYS`) and, for a service with a database, also with
    keys issued by `svd keys create`.
    """
    keys: KeyStore = StaticKeyStore(settings.svd_api_keys)
    key_engine = None
    if isinstance(settings, DatabaseSettings):
        await migrate_keys(settings.database_url)
        key_engine = create_engine(settings.database_url, pool_size=2)
        keys = DatabaseKeyStore(key_engine, keys)
    if broker is not None:
        await broker.start()
    credentials = tls_credentials(settings.grpc_tls_cert, settings.grpc_tls_key)
    servers = await start_server(
        settings.grpc_listen, bindings, keys, credentials, health_listen=settings.grpc_health_listen
    )
    rpc_grace = min(settings.shutdown_grace_s, 5.0)
    http = None
    try:
        if settings.http_listen and (http_fallback or any(b.connect for b in bindings)):
            app = connect_app(bindings, keys, http_fallback, settings.http_cors_origins)
            http = await start_http(settings.http_listen, app, rpc_grace)
        await stop.wait()
    finally:
        # Stop taking work first: the broker stops fetching and waits (up to the grace) for running handlers, which
        # may still call peers; then in-flight RPCs get a short grace of their own.
        if broker is not None:
            await broker.stop()
        if http is not None:
            await http.stop(rpc_grace)
        await servers.stop(rpc_grace)
        if key_engine is not None:
            await key_engine.dispose()
