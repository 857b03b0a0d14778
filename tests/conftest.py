"""Shared fixtures: an embedded stack started through the real `svd` CLI, with traces exported to a local sink."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from svd.telemetry import setup_telemetry
from tests.otlp_sink import SpanSink, start_sink

REPO = Path(__file__).resolve().parents[1]


def svd(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svd_stack", *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout
    )


class RunningStack:
    def __init__(self, home: Path, env: dict[str, str], sink: SpanSink) -> None:
        self.home = home
        self.env = env
        self.sink = sink

    @property
    def info(self) -> dict:
        from svd_stack.client import load_stack

        return load_stack(self.home)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    setup_telemetry("e2e-tests")  # the tests publish like the upstream router: with a real trace context
    server, sink, port = start_sink()
    home = tmp_path_factory.mktemp("svd-home")
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "VIDEO_POLL_INITIAL_DELAY_S": "1",
        "VIDEO_POLL_INTERVAL_S": "1",
    }
    env.pop("RUNWAY_API_KEY", None)
    up = svd("up", "--home", str(home), env=env)
    try:
        assert up.returncode == 0, f"svd up failed:\n{up.stdout}\n{up.stderr}"
        yield RunningStack(home, env, sink)
    finally:
        down = svd("down", "--home", str(home), env=env)
        server.stop(grace=None)
        assert down.returncode == 0, f"svd down failed:\n{down.stdout}\n{down.stderr}"
