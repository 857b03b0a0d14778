"""A real provider simulator process (OpenAI images over HTTP) for the image-provider tests; stopped by pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def image_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    base = tmp_path_factory.mktemp("image_sim")
    log_path = base / "sim.log"
    env = {**os.environ, "PROVIDER_SIM_WORK_DIR": str(base / "work")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"simulator exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
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


@pytest.fixture
def sim(image_sim: str) -> Iterator[str]:
    """The simulator with no faults and an empty request log, restored after the test."""
    httpx.delete(f"{image_sim}/_sim/openai/faults")
    httpx.delete(f"{image_sim}/_sim/openai/requests")
    yield image_sim
    httpx.delete(f"{image_sim}/_sim/openai/faults")
