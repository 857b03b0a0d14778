"""The floor of gRPC in Python on this machine: a bare `grpc.aio` server answering health checks, with nothing else.

No interceptors (auth, tracing), no telemetry, no database: what any Python gRPC service pays per call before it
does anything. `bench_billing` drives it with the same 64 clients as billing, so the two rows compare directly.

    python -m tests.benchmarks.grpc_floor 127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio


async def serve(target: str) -> None:
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(target)
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
