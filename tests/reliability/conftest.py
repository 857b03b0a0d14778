"""One embedded stack for the outage and deadline tests of this folder, with the retry budgets shrunk so an outage
"longer than every budget" takes seconds (every service reads these settings). The chaos and the 10-minute outage
tests open their own stacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningStack, running_stack

# Backoff 1, 2, 2, 2 … s: the old consumer (JetStream's `max_deliver` of 10) silently dropped a message after ten
# deliveries, about 15-17 s at these settings; the outages here last longer.
SHORT_BUDGETS = {
    "BUS_BACKOFF_BASE_S": "1",
    "BUS_BACKOFF_CAP_S": "2",
    "BUS_MAX_FAILURES": "10",
    "DEADLINE_SWEEP_INTERVAL_S": "2",
}


@pytest.fixture(scope="package")
def short_budget_stack() -> Iterator[RunningStack]:
    with running_stack(None, **SHORT_BUDGETS) as running:
        yield running
