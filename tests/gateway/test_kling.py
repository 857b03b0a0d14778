"""Kling alone (through fal's queue API over TLS, with the real `fal_client`) on the real stack: a job succeeds and
is billed at Kling's rate, a FAILED request fails the job with fal's reason, and a cancel mid-poll cancels the
request and stops the loop.

Poll settings for this module: first check 3 s after submission, then every 2 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.gateway.helpers import Sim, new_tenant, start_job, submission, wait_for, wait_submitted, wait_terminal

INTERVAL_S = 2.0


@pytest.fixture(scope="module")
def kling_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-kling"),
        SVD_SIM_PROVIDERS="kling",
        VIDEO_POLL_INITIAL_DELAY_S="3",
        VIDEO_POLL_INTERVAL_S=str(INTERVAL_S),
        VIDEO_POLL_MAX_ATTEMPTS="30",
    ) as running:
        yield running


@pytest.fixture
def sim(kling_stack: RunningStack) -> Iterator[Sim]:
    sim = Sim(kling_stack.info)
    sim.clear_faults()
    yield sim
    sim.clear_faults()


async def test_a_kling_job_succeeds_and_is_billed_at_klings_rate(kling_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(kling_stack.info)
    try:
        tenant = await new_tenant(client)
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        assert submission(kling_stack.info, job.job_id)["provider"] == "kling"
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100 - 12, 0)
        calls = sim.requests(provider="fal", task_id=job.provider_job_id)
        assert {r["op"] for r in calls} >= {"status", "result"} and all(r["tls"] for r in calls)
        assert not sim.requests(provider="runway")
    finally:
        await client.close()


async def test_a_failed_kling_request_fails_the_job_with_fals_reason(kling_stack: RunningStack, sim: Sim) -> None:
    client = StackClient(kling_stack.info)
    try:
        tenant = await new_tenant(client)
        sim.faults(provider="fal", task_outcome="FAILED", failure_code="SAFETY.OUTPUT.VIDEO")
        job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
        assert job.status == c.JOB_STATUS_FAILED
        assert "content_policy_violation" in job.error, job.error
        assert submission(kling_stack.info, job.job_id)["state"] == "failed"
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()


async def test_cancel_mid_poll_cancels_the_kling_request_and_stops_the_loop(
    kling_stack: RunningStack, sim: Sim
) -> None:
    info = kling_stack.info
    client = StackClient(info)
    try:
        tenant = await new_tenant(client)
        sim.faults(provider="fal", never_finish=True)
        job = await wait_submitted(client, (await start_job(client, tenant)).job_id)
        request_id = job.provider_job_id
        await wait_for(
            lambda: len(sim.requests(provider="fal", op="status", task_id=request_id)) >= 1, 30, "the first check"
        )
        await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="client changed mind"))

        await wait_for(lambda: sim.task(request_id)["status"] == "CANCELLED", 20, "the fal request to be cancelled")
        assert submission(info, job.job_id)["state"] == "cancelled"
        cancelled_at = sim.requests(provider="fal", op="cancel", task_id=request_id)[0]["time"]
        await asyncio.sleep(INTERVAL_S * 2 + 1)
        checks = sim.requests(provider="fal", op="status", task_id=request_id)
        assert all(r["time"] <= cancelled_at + 0.5 for r in checks), (cancelled_at, checks)
        job = await client.get_job(job.job_id)
        assert job.status == c.JOB_STATUS_CANCELLED
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()
