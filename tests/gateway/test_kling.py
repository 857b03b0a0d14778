"""Kling alone (through fal's queue API over TLS, with the real `fal_client`) on the real stack: a job succeeds and
is billed at Kling's rate, a FAILED request fails the job with fal's reason, a cancel mid-poll cancels the
request and stops the loop, and the account's concurrency cap (`KLING_MAX_IN_FLIGHT`) holds submits back.

Poll settings for this module: first check 3 s after submission, then every 2 s; one Kling task at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

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
    wait_for,
    wait_terminal,
)

INTERVAL_S = 2.0


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-kling"),
        SVD_SIM_PROVIDERS="kling",
        VIDEO_POLL_INITIAL_DELAY_S="3",
        VIDEO_POLL_INTERVAL_S=str(INTERVAL_S),
        VIDEO_POLL_MAX_ATTEMPTS="30",
        # One task at a time at Kling (the other tests run one job each); a waiting submit looks again every second.
        KLING_MAX_IN_FLIGHT="1",
        PROVIDER_SLOT_RECHECK_S="1",
    ) as running:
        yield running


async def test_a_kling_job_succeeds_and_is_billed_at_klings_rate(gateway_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(gateway_stack.info)
    try:
        tenant = await new_tenant(client)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        assert submission(gateway_stack.info, job.job_id)["provider"] == "kling"
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100 - 12, 0)
        calls = sim.requests(provider="fal", task_id=job.provider_job_id)
        assert {r["op"] for r in calls} >= {"status", "result"} and all(r["tls"] for r in calls)
        assert not sim.requests(provider="runway")
    finally:
        await client.close()


async def test_a_failed_kling_request_fails_the_job_with_fals_reason(gateway_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(gateway_stack.info)
    try:
        job = await failed_task(client, gateway_stack.info, sim, "fal")
        assert "content_policy_violation" in job.error, job.error
    finally:
        await client.close()


async def test_cancel_mid_poll_cancels_the_kling_request_and_stops_the_loop(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        await cancel_mid_poll(client, gateway_stack.info, sim, "fal", INTERVAL_S)
    finally:
        await client.close()


async def test_with_a_cap_of_one_kling_never_runs_two_tasks_while_the_other_jobs_wait_then_succeed(
    gateway_stack: RunningStack, sim: Sim
) -> None:
    client = StackClient(gateway_stack.info)
    try:
        since = max((r["seq"] for r in sim.requests()), default=0)
        first, second = await new_tenant(client), await new_tenant(client)
        # Three jobs admitted at once by the dispatcher (two tenants, two slots each); Kling takes one at a time.
        jobs = [(await start_job(client, tenant)).job_id for tenant in (first, first, second)]

        async def one_waits_for_kling() -> bool:
            labels = [(await client.get_job(job_id)).label for job_id in jobs]
            return any(label == "Waiting for Kling's concurrency: 1 of 1 tasks in flight" for label in labels)

        await wait_for(one_waits_for_kling, 60, "a job to wait for Kling's concurrency")
        ended = [await wait_terminal(client, job_id, timeout_s=150) for job_id in jobs]
        assert [job.status for job in ended] == [c.JOB_STATUS_SUCCEEDED] * 3, [job.error for job in ended]

        # The simulator's journal: a task is in flight from its submit until its last request (the gateway frees
        # the slot only after that). No submit may land while another task is in flight.
        calls = [r for r in sim.requests(provider="fal") if r["seq"] > since]
        submits = [r for r in calls if r["op"] == "submit"]
        assert len(submits) == 3 and len({r["task_id"] for r in submits}) == 3  # no resubmit
        spans = {
            r["task_id"]: (r["time"], max(x["time"] for x in calls if x["task_id"] == r["task_id"])) for r in submits
        }
        for submit in submits:
            overlapping = [
                task
                for task, (start, end) in spans.items()
                if task != submit["task_id"] and start < submit["time"] < end
            ]
            assert not overlapping, (submit, spans)
    finally:
        await client.close()
