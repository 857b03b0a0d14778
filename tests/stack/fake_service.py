"""A stand-in for an svd service in the stack tests: gRPC health SERVING on GRPC_LISTEN.

It dumps its environment to `$FAKE_SERVICE_ENV_DIR/<port>.json` so tests can check what a
service receives, and exits on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    listen = os.environ["GRPC_LISTEN"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(listen)
    out_dir = os.environ.get("FAKE_SERVICE_ENV_DIR")
    if out_dir:
        port = listen.rsplit(":", 1)[1]
        (Path(out_dir) / f"{port}.json").write_text(json.dumps(dict(os.environ)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
