"""Longest test files first, so `make test`'s workers finish together.

`make test` gives each pytest-xdist worker whole files (`--dist loadfile`, one module-scoped stack per file) in the
order the items are collected (`--no-loadscope-reorder`; xdist's own reorder puts files with *many* tests first,
which queued the few-test, many-minute outage and chaos files last and left one worker running them alone at the
end). Ordering by expected duration is the classic longest-processing-time-first schedule.

The weights are the files' seconds in one run of the suite on the 2-core reference machine (from
`pytest --junitxml`); only their order matters, and a file not listed (unit tests, seconds) keeps its place after
them. Re-measure when a file's weight changes a lot.
"""

from __future__ import annotations

import pytest

EXPECTED_SECONDS: dict[str, float] = {
    "tests/dispatcher/test_admission.py": 525,
    "tests/reliability/test_chaos.py": 520,
    "tests/reliability/test_deadlines.py": 510,
    "tests/dispatcher/test_recovery.py": 510,
    "tests/dispatcher/test_admission_burst.py": 490,
    "tests/gateway/test_no_paid_call_twice.py": 460,
    "tests/reliability/test_outages.py": 440,
    "tests/gateway/test_crash_resume.py": 430,
    "tests/media/test_store_faults.py": 410,
    "tests/reliability/test_replicated.py": 345,
    "tests/webhooks/test_webhooks_on_stack.py": 295,
    "tests/gateway/test_keys_and_fallback.py": 285,
    "tests/dispatcher/test_job_api.py": 240,
    "tests/e2e/test_deliverables.py": 235,
    "tests/media/test_leases.py": 230,
    "tests/gateway/test_kling.py": 225,
    "services/still-frame/tests/stack/test_still_frame_on_stack.py": 220,
    "tests/billing/test_crash.py": 205,
    "tests/dispatcher/test_api_watch.py": 200,
    "tests/dispatcher/test_resilience.py": 190,
    "tests/provider_sim/test_faults.py": 185,
    "tests/dispatcher/test_flows.py": 185,
    "tests/dispatcher/test_operator_cli.py": 165,
    "tests/media/test_conform.py": 165,
    "tests/gateway/test_poll_loop.py": 150,
    "tests/billing/test_model.py": 125,
    "tests/provider_sim/test_fal.py": 125,
    "services/still-frame/tests/render/test_render_layout.py": 110,
    "tests/media/test_sweeps.py": 110,
    "services/still-frame/tests/render/test_render_matrix.py": 105,
    "tests/dispatcher/test_retry_resume.py": 75,
    "tests/console/test_console_browser.py": 70,
    "tests/provider_sim/test_server.py": 70,
    "tests/provider_sim/test_render.py": 55,
}


def expected_seconds(item: pytest.Item) -> float:
    """The weight of the file an item belongs to (0 for a file not listed)."""
    path = item.nodeid.split("::", 1)[0]
    return EXPECTED_SECONDS.get(path, 0.0)


def longest_files_first(items: list[pytest.Item]) -> None:
    """Reorder in place: heavier files first, collection order kept within a file and among equals."""
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-expected_seconds(item), order[id(item)]))
