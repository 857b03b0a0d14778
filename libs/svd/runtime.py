"""Process lifecycle of a service: logging, telemetry, signal handling and graceful shutdown.

A service's `__main__` calls `run_service(name, main)`; `main(stop)` opens its resources with `async with`, serves,
and returns once `stop` is set (SIGTERM or SIGINT).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

from faststream.nats import NatsBroker

from svd.grpc.auth import StaticKeyStore
from svd.grpc.server import ServiceBinding, start_server
from svd.settings import BaseServiceSettings
from svd.telemetry import setup_telemetry, shutdown_telemetry


def run_service(service_name: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main` until SIGTERM/SIGINT, with telemetry named `service_name` (the service's folder name)."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s {service_name} %(name)s: %(message)s",
    )
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)
    setup_telemetry(service_name)

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
) -> None:
    """Start the bus consumers and the gRPC server (health and reflection included), run until `stop`, then drain."""
    if broker is not None:
        await broker.start()
    server = await start_server(settings.grpc_listen, bindings, StaticKeyStore(settings.svd_api_keys))
    try:
        await stop.wait()
    finally:
        await server.stop(settings.shutdown_grace_s)
        if broker is not None:
            await broker.stop()
