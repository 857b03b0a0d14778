"""Gateway suites: each module starts its own stack as `gateway_stack`; `sim` is that stack's simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningStack
from tests.gateway.helpers import Sim


@pytest.fixture
def sim(gateway_stack: RunningStack) -> Iterator[Sim]:
    """The simulator of the module's stack, with no faults set before or after the test."""
    sim = Sim(gateway_stack.info)
    sim.clear_faults()
    yield sim
    sim.clear_faults()
