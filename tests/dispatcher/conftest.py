"""Fixtures of the dispatcher's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dispatcher.support import Simulator


@pytest.fixture
def sim(stack) -> Iterator[Simulator]:  # type: ignore[no-untyped-def]
    """The stack's provider simulator, with no faults armed before or after the test."""
    simulator = Simulator(stack)
    simulator.clear()
    yield simulator
    simulator.clear()
