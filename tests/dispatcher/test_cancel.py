"""`CancelJob` stops a job wherever it is: the provider task is cancelled, the credits released, the post told why."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from tests.dispatcher.support import (
    Simulator,
    approve,
    ledger,
    new_post,
    status_changes,
    tenant_client,
    wait_job,
)


async def _until(predicate, timeout_s: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s} s")
        await asyncio.sleep(0.2)


async def test_cancel_mid_poll_cancels_the_provider_task_and_releases_credits(stack, sim: Simulator) -> None:
    sim.fault(never_finish=True)
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await client.find_job(tenant, post)

        async def polling() -> jobs_pb2.Job | None:
            current = await client.get_job(job.job_id)
            return current if current.step == c.JOB_STEP_POLLING and current.provider_job_id else None

        job = await _until(polling, what="polling job")
        response = await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="brief changed"))
        assert response.job.status == c.JOB_STATUS_CANCELLED
        assert response.job.error == "cancelled: brief changed"
        assert response.job.post_status == c.POST_STATUS_DM_REVIEW

        async def provider_cancelled() -> bool:
            return sim.task(job.provider_job_id)["status"] == "CANCELLED"

        await _until(provider_cancelled, what="provider task cancellation")
        assert any(r["task_id"] == job.provider_job_id for r in sim.requests(op="cancel"))

        again = await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id))
        assert again.job.status == c.JOB_STATUS_CANCELLED
        balance = await client.balance(tenant)
        assert (balance.balance, balance.held) == (100, 0)
        assert [e.kind for e in await ledger(client, tenant)] == ["grant", "hold", "release"]
        changes = await status_changes(stack.info["nats_url"], tenant, post)
        assert changes[-1].post_status == c.POST_STATUS_DM_REVIEW
        assert changes[-1].reason == "cancelled: brief changed"

        await asyncio.sleep(3)  # later polls see the cancelled task and stop: the job stays cancelled
        final = await client.get_job(job.job_id)
        assert final.status == c.JOB_STATUS_CANCELLED and final.credits_consumed == 0


async def test_cancel_before_submission_leaves_no_provider_task_running(stack, sim: Simulator) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await client.find_job(tenant, post)
        response = await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id))
        assert response.job.status == c.JOB_STATUS_CANCELLED
        await asyncio.sleep(8)  # let any in-flight still / submission run its course
        final = await client.get_job(job.job_id)
        assert final.status == c.JOB_STATUS_CANCELLED
        if final.provider_job_id:  # submitted after the cancel: the dispatcher had it cancelled
            assert sim.task(final.provider_job_id)["status"] in ("CANCELLED", "FAILED")
        assert (await client.balance(tenant)).available == 100
        assert not [m for m in await client.list_media(tenant, post)]


async def test_a_finished_job_cannot_be_cancelled(stack) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id)
        assert job.status == c.JOB_STATUS_SUCCEEDED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "already succeeded" in (caught.value.details() or "")
