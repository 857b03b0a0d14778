"""A real provider simulator process (OpenAI images over HTTP) for the image-provider tests; stopped by pid."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from svd_stack.checks import plain_http
from tests.processes import free_port, simulator_process


@pytest.fixture(scope="session")
def image_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    base = tmp_path_factory.mktemp("image_sim")
    env = {**os.environ, "PROVIDER_SIM_WORK_DIR": str(base / "work")}
    with simulator_process(port, ["--no-access-log"], env, base / "sim.log") as url:
        yield url


@pytest.fixture
def sim(image_sim: str) -> Iterator[str]:
    """The simulator with no faults and an empty request log, restored after the test."""
    plain_http().delete(f"{image_sim}/_sim/openai/faults")
    plain_http().delete(f"{image_sim}/_sim/openai/requests")
    yield image_sim
    plain_http().delete(f"{image_sim}/_sim/openai/faults")
