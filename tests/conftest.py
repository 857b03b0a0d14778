"""Shared fixtures: an embedded stack started through the real `svd` CLI, with traces exported to a local sink."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from svd.telemetry import setup_telemetry
from tests.otlp_sink import SpanSink, start_sink
from tests.scheduling import longest_files_first

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

    def replicas(self, service: str) -> list[str]:
        """Component names of `service`'s processes: `[service]` on a plain stack, `service-1`… when replicated
        (`nats` works the same way for the NATS servers)."""
        processes = self.info["processes"]
        return [service] if service in processes else sorted(n for n in processes if n.startswith(f"{service}-"))

    @property
    def info(self) -> dict:
        from svd_stack.client import load_stack

        return load_stack(self.home)

    def pid(self, component: str) -> int:
        return int(self.info["processes"][component]["pid"])

    def kill(self, component: str, sig: signal.Signals = signal.SIGKILL, timeout: float = 10.0) -> int:
        """Send `sig` (default: kill -9) to one component of the stack, by its recorded pid; wait until it is gone."""
        pid = self.pid(component)
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)  # only reaps if it is our child; harmless otherwise
            except ChildProcessError:
                finished = 0
            if finished == pid or not _exists(pid):
                return pid
            time.sleep(0.05)
        raise AssertionError(f"{component} (pid {pid}) still running {timeout}s after signal {sig}")

    def up(self, *only: str) -> None:
        """`svd up` again: restarts whatever is not running (e.g. a component killed by `kill`)."""
        args = [arg for name in only for arg in ("--only", name)]
        result = svd("up", "--home", str(self.home), *args, env=self.env)
        assert result.returncode == 0, f"svd up failed:\n{result.stdout}\n{result.stderr}"


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie is gone for our purposes
    except (FileNotFoundError, IndexError):
        return False


@contextmanager
def running_stack(
    home: Path | None = None, *, nats_cluster: int = 1, replicas: int = 1, **overrides: str
) -> Iterator[RunningStack]:
    """A whole embedded stack (traces and metrics to a local OTLP sink, over HTTP unless overridden); `overrides` are
    extra environment variables. `nats_cluster` and `replicas` give it the shape of `svd up --nats-cluster N
    --replicas R` (names `nats-1`…, `dispatcher-1`…).

    The session `stack` fixture is one of these; a test that needs other settings (poll timing, fault-prone
    providers) opens its own with a module-scoped fixture and pays the start-up once. The stack really lives in a
    fresh directory outside pytest's temporary root (`home`, if given, becomes a link to it): pytest makes that root
    private (0700) at every session start, which would lock PostgreSQL, running as its own user, out of a stack that
    another pytest session is using.
    """
    real_home = Path(tempfile.mkdtemp(prefix="svd-test-home-"))
    if home is not None:  # keep the caller's path working: it points at the real home
        if home.is_dir() and not any(home.iterdir()):
            home.rmdir()
        home.symlink_to(real_home, target_is_directory=True)
    try:
        shape = (
            ["--nats-cluster", str(nats_cluster), "--replicas", str(replicas)] if nats_cluster * replicas > 1 else []
        )
        with _stack_in(real_home, overrides, shape) as running:
            yield running
    finally:
        shutil.rmtree(real_home, ignore_errors=True)


@contextmanager
def _stack_in(home: Path, overrides: dict[str, str], shape: list[str]) -> Iterator[RunningStack]:
    setup_telemetry("e2e-tests")  # the tests publish like the upstream router: with a real trace context
    receiver = start_sink()
    # OTLP over HTTP, the specification's default protocol (a stack can ask for `grpc` through `overrides`).
    protocol = overrides.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint(protocol),
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        # Spans within a second and metrics every five (the tests wait for them); shorter, every process of every
        # stack posting to the sink several times a second cost the suite more CPU than some services' work.
        "OTEL_BSP_SCHEDULE_DELAY": "1000",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        # The webhook worker is woken by the outbox's notifications; its poll (due retries) need not run every second
        # on stacks whose tests send no webhooks (the session stack's do: it polls every second).
        "WEBHOOK_POLL_INTERVAL_S": "5",
        "VIDEO_POLL_INITIAL_DELAY_S": "1",
        "VIDEO_POLL_INTERVAL_S": "1",
        # Scaled-down delays need more checks to cover a render on a busy machine (still a bounded window): with a
        # CPU burner beside the suite a render took over 60 s.
        "VIDEO_POLL_MAX_ATTEMPTS": "180",
        # Every job's clip is encoded twice (the simulator's render, media-store's conform to 1080p): the fastest
        # libx264 preset keeps the suite from being bound by the encoder. It changes file sizes only; the
        # deliverable's frame, rate, GOP, bit rate and High profile are what the tests check, and stay.
        "CONFORM_PRESET": "ultrafast",
        "PROVIDER_SIM_X264_PRESET": "ultrafast",
        # A module's stack serves tests of outages, admission, replicas and provider faults, which look at the
        # pipeline, never at the picture: one render per format (the provider becomes next to instant; the stored
        # clip keeps the model's frame, rate, length and sound). The session stack, whose tests check what the
        # picture shows, renders every still.
        "PROVIDER_SIM_RENDER_CACHE_SCOPE": "format",
        **overrides,
    }
    env.pop("RUNWAY_API_KEY", None)
    up = _up_in_fresh_home(home, env, shape)
    try:
        assert up.returncode == 0, f"svd up failed:\n{up.stdout}\n{up.stderr}"
        yield RunningStack(home, env, receiver.sink)
    finally:
        down = svd("down", "--home", str(home), env=env)
        receiver.stop()
        assert down.returncode == 0, f"svd down failed:\n{down.stdout}\n{down.stderr}"


START_ATTEMPTS = 3


def _up_in_fresh_home(home: Path, env: dict[str, str], shape: list[str]) -> subprocess.CompletedProcess[str]:
    """`svd up`, tried again in an emptied home (so with new ports) when a part died at start: with several test
    workers starting stacks at once, a free port chosen by one can be taken by another before it binds."""
    for attempt in range(1, START_ATTEMPTS + 1):
        up = svd("up", "--home", str(home), *shape, env=env, timeout=900 if shape else 300)
        if up.returncode == 0 or "during startup" not in up.stdout + up.stderr or attempt == START_ATTEMPTS:
            return up
        svd("down", "--home", str(home), env=env)
        for child in home.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    raise AssertionError("unreachable")


# The session stack renders every still, lets webhooks reach the tests' loopback receivers, retries them within
# seconds, and checks endpoint health and prunes deliveries past retention every second.
SESSION_STACK_ENV = {
    "PROVIDER_SIM_RENDER_CACHE_SCOPE": "inputs",
    "WEBHOOKS_ALLOW_PRIVATE": "true",
    "WEBHOOK_RETRY_SCHEDULE_S": "1,1,1,1",
    "WEBHOOK_HEALTH_INTERVAL_S": "1",
    "WEBHOOK_PRUNE_INTERVAL_S": "1",
    "WEBHOOK_POLL_INTERVAL_S": "1",
}


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    with running_stack(**SESSION_STACK_ENV) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest_files_first(items)
