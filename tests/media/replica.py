"""A second media-store process with other settings, standing in for the stack's own (which is stopped meanwhile).

The stack forces its connection settings (`DO_SPACES_ENDPOINT` …) on the services it starts, so a test that needs
the media store to reach S3 through a fault proxy runs its own replica: the stack's media-store environment (read
from the running process), with overrides, on a free gRPC port. Replicas share the durable consumer, which is
exactly how production scales the service. On exit the replica is stopped by pid and the stack's restarted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from svd_stack.checks import grpc_serving
from svd_stack.ports import pick_free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    grpc: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def terminate(self, timeout_s: float = 120.0) -> int:
        """SIGTERM (a graceful stop, as Kubernetes does it) and wait for the exit; the exit code."""
        os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


@contextmanager
def media_store_replica(stack, log_dir: Path, **overrides: str) -> Iterator[Replica]:
    env = {**_environ(stack.pid("media_store")), **overrides}
    grpc = f"127.0.0.1:{pick_free_port()}"
    env["GRPC_LISTEN"] = grpc
    stack.kill("media_store")
    log = log_dir / "media-store-replica.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "media_store"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not grpc_serving(grpc):
            assert process.poll() is None, f"replica exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "replica not serving after 60 s"
            time.sleep(0.2)
        yield Replica(process, grpc, log)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        stack.up("media_store")
