"""An extra process of one of the stack's services, with other settings, beside (or instead of) the stack's own.

A test that needs a second replica racing the first (the dispatcher's admission), or a service reaching its peers
through a fault proxy (the stack forces connection settings such as `DO_SPACES_ENDPOINT` on what it starts), runs
its own process: the stack's environment for that service (read from the running process), with overrides, on a
free gRPC port. Replicas share the durable consumers, which is exactly how production scales a service. On exit the
process is stopped by its pid (SIGTERM, then SIGKILL).
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

REPO = Path(__file__).resolve().parents[1]
# Importing a service and connecting it to the stack takes seconds; with every test worker encoding video on two
# cores it has taken over 90 s. Only a process that never serves fails the wait.
START_TIMEOUT_S = 300.0


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


def environ_of(pid: int) -> dict[str, str]:
    """The environment a running process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


@contextmanager
def service_replica(
    stack, service: str, log_dir: Path, *, instead: bool = False, stop_grace_s: float = 45.0, **overrides: str
) -> Iterator[Replica]:
    """Another `service` process (module name, e.g. `media_store`) with the stack's environment and `overrides`,
    serving gRPC (and Connect, if the service has it) on free ports once this yields. Its metrics port is left to the
    stack's own process. `instead`:
    the stack's own process is stopped meanwhile and started again at the end."""
    env = {**environ_of(stack.pid(service)), **overrides}
    env["GRPC_LISTEN"] = grpc = f"127.0.0.1:{pick_free_port()}"
    if "HTTP_LISTEN" in env:  # its Connect listener too (the stack's process holds that port)
        env["HTTP_LISTEN"] = f"127.0.0.1:{pick_free_port()}"
    env.pop("METRICS_PORT", None)
    if instead:
        stack.kill(service)
    try:
        with _started(service, env, grpc, log_dir / f"{service}-replica.log", stop_grace_s) as replica:
            yield replica
    finally:
        if instead:
            stack.up(service)


@contextmanager
def _started(service: str, env: dict[str, str], grpc: str, log: Path, stop_grace_s: float) -> Iterator[Replica]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", service], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        started = time.monotonic()
        while not grpc_serving(grpc):
            assert process.poll() is None, f"{service} replica exited: {log.read_text()[-3000:]}"
            assert time.monotonic() - started < START_TIMEOUT_S, (
                f"{service} replica not serving after {START_TIMEOUT_S:.0f} s"
            )
            time.sleep(0.2)
        yield Replica(process, grpc, log)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=stop_grace_s)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
