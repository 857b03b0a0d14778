"""A stand-in for an svd service in the stack tests: gRPC health SERVING on GRPC_LISTEN.

It dumps its environment to `$FAKE_SERVICE_ENV_DIR/<port>.json` so tests can check what a
service receives, and exits on SIGTERM: after `$FAKE_SERVICE_DRAIN_S` seconds, like a service whose
handlers are still finishing, and then says "drained" on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
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
    time.sleep(float(os.environ.get("FAKE_SERVICE_DRAIN_S", "0")))
    server.stop(0)
    print("drained", flush=True)


if __name__ == "__main__":
    main()
