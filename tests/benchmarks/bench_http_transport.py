"""Benchmark: CPU per provider status check with httpx's own transport against httpx over aiohttp's pool.

The gateway's Runway adapter (`RunwayProvider.status`, the poll loop's call) is run against the provider simulator
(a separate process) through two clients with the gateway's limits (a kept-alive connection per concurrent check):
httpx's default transport (httpcore on anyio) and the aiohttp transport the gateway uses (`video_gateway.app`).
It prints checks per second and this process's CPU per check; only the ratio matters on a shared machine.

    .venv/bin/python -m tests.benchmarks.bench_http_transport [--checks 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

from svd.telemetry import setup_telemetry
from tests.benchmarks.bench_gateway import create_tasks
from tests.processes import free_port, simulator_process
from video_gateway.providers.runway import RunwayProvider
from video_gateway.providers.runway_models import MODELS

KEY = "bench-key"


def client(kind: str, base_url: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency + 16, max_keepalive_connections=concurrency + 16)
    transport = AsyncOpenTelemetryTransport(AiohttpTransport(limits=limits)) if kind == "aiohttp" else None
    return httpx.AsyncClient(base_url=base_url, timeout=20, limits=limits, transport=transport)


async def measure(kind: str, base_url: str, task_id: str, concurrency: int, checks: int) -> tuple[float, float]:
    """(checks per second, CPU µs per check) of `checks` status checks, `concurrency` at a time."""
    async with client(kind, base_url, concurrency) as http:
        runway = RunwayProvider(http, models=(MODELS["gen4_turbo"],), version="2024-11-06")
        limit = asyncio.Semaphore(concurrency)

        async def check() -> None:
            async with limit:
                await runway.status(task_id, KEY)

        await asyncio.gather(*(check() for _ in range(concurrency * 8)))  # connections opened
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(check() for _ in range(checks)))
        return checks / (time.perf_counter() - began), 1e6 * (time.process_time() - cpu) / checks


async def run(base_url: str, checks: int) -> None:
    (task_id,) = await create_tasks(base_url, KEY, 1)
    print(f"Runway status checks through RunwayProvider, {checks} per row, {os.cpu_count()} CPUs")
    rows = {}
    for concurrency in (16, 64):
        for kind in ("httpx", "aiohttp"):
            rate, cpu_us = await measure(kind, base_url, task_id, concurrency, checks)
            rows[kind, concurrency] = cpu_us
            print(
                f"  {kind:<8} transport, {concurrency:>2} concurrent: "
                f"{rate:7,.0f} checks/s  {cpu_us:6,.0f} µs CPU/check"
            )
        print(f"  httpx's own transport costs {rows['httpx', concurrency] / rows['aiohttp', concurrency]:.1f}x the CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    args = parser.parse_args()
    setup_telemetry("bench-http-transport")  # both clients traced, as in the gateway
    with tempfile.TemporaryDirectory(prefix="bench-http-") as work:
        env = {**os.environ, "PROVIDER_SIM_WORK_DIR": work}
        with simulator_process(free_port(), ["--no-access-log"], env, Path(work) / "sim.log") as url:
            asyncio.run(run(url, args.checks))


if __name__ == "__main__":
    main()
