"""Servers the tests start themselves: a free loopback port, and a provider simulator process that is waited on until
healthy and stopped by its pid."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from svd_stack.checks import plain_http


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def simulator_process(port: int, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """`python -m provider_sim` on 127.0.0.1:`port` (plus `args`); yields its base URL once /healthz answers."""
    command = [sys.executable, "-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port), *args]
    # A log file rather than a pipe: nobody drains a pipe while tests run, and a full pipe would block the server.
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"simulator exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if plain_http().get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"simulator did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
