"""The poll loop on the real stack with scaled delays: checks on schedule, the timeout path, FAILED tasks, cancel.

Poll settings for this module: first check 3 s after submission, then every 2 s, at most 5 checks (window 11 s).
A task that never finishes is the simulator's never-finish fault (RUNNING until cancelled).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest

from social_video.v1 import common_pb2 as c
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.gateway.helpers import (
    Sim,
    cancel_mid_poll,
    failed_task,
    new_tenant,
    start_job,
    submission,
    wait_submitted,
    wait_terminal,
)

INITIAL_S, INTERVAL_S, MAX_CHECKS = 3.0, 2.0, 5


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-poll"),
        VIDEO_POLL_INITIAL_DELAY_S=str(INITIAL_S),
        VIDEO_POLL_INTERVAL_S=str(INTERVAL_S),
        VIDEO_POLL_MAX_ATTEMPTS=str(MAX_CHECKS),
    ) as running:
        yield running


async def test_checks_land_on_schedule_then_the_timeout_cancels_the_task_and_releases_credits(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    info = gateway_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        sim.faults(provider="runway", never_finish=True)
        job = await wait_submitted(client, (await start_job(client, tenant)).job_id)
        assert (await client.balance(tenant)).held == 15
        job = await wait_terminal(client, job.job_id, timeout_s=INITIAL_S + INTERVAL_S * MAX_CHECKS + 30)

        assert job.status == c.JOB_STATUS_FAILED
        assert job.error.startswith("timeout"), job.error
        assert job.provider_job_id in job.error  # logged for a manual retry
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)  # released through the dispatcher

        row = submission(info, job.job_id)
        assert row["state"] == "timed_out" and row["checks"] == MAX_CHECKS
        submitted_at = row["submitted_at"].timestamp()
        checks = sim.requests(provider="runway", op="status", task_id=job.provider_job_id)
        offsets = [r["time"] - submitted_at for r in checks]
        expected = [INITIAL_S + k * INTERVAL_S for k in range(MAX_CHECKS)]
        assert len(offsets) == MAX_CHECKS, offsets  # and no check after the last
        # The first check waits the initial delay after the submit, then each comes one interval after the one
        # before (no drift); a busy machine delays the whole schedule by a second or two, never the spacing.
        assert expected[0] <= offsets[0] <= expected[0] + 3.0, (offsets, expected)
        for before, after in pairwise(offsets):
            assert abs((after - before) - INTERVAL_S) <= 0.5, (offsets, expected)
        cancels = sim.requests(provider="runway", op="cancel", task_id=job.provider_job_id)
        assert len(cancels) == 1 and cancels[0]["time"] >= checks[-1]["time"]
        assert sim.task(job.provider_job_id)["status"] == "CANCELLED"
    finally:
        await client.close()


async def test_a_failed_task_fails_the_job_with_the_providers_reason(gateway_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(gateway_stack.info)
    try:
        job = await failed_task(client, gateway_stack.info, sim, "runway")
        assert "SAFETY.OUTPUT.VIDEO" in job.error and "moderation" in job.error, job.error
    finally:
        await client.close()


async def test_cancel_mid_poll_cancels_the_provider_task_and_stops_the_loop(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        await cancel_mid_poll(client, gateway_stack.info, sim, "runway", INTERVAL_S)
    finally:
        await client.close()
