"""Crash tests on the whole embedded stack: billing is killed (kill -9) while a job's credits are held, or before
the job reserves them.

The dispatcher keeps retrying its billing calls while billing is down (bus redelivery with backoff); once billing is
back, the job ends and its credits are held once and consumed exactly once or released, never both, never neither.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from social_video.v1 import billing_pb2
from social_video.v1 import common_pb2 as c
from svd.ids import short_id
from svd_stack.client import CREDIT_TYPE, StackClient, copy_approved
from tests.conftest import RunningStack

TERMINAL = {c.JOB_STATUS_SUCCEEDED, c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED}


async def _job_entries(client: StackClient, tenant: str, job_id: str) -> list[billing_pb2.LedgerEntry]:
    request = billing_pb2.ListLedgerRequest(tenant_id=tenant, credit_type=CREDIT_TYPE, limit=500)
    response = await client.billing.ListLedger(request)
    return [e for e in response.entries if e.job_id == job_id]


async def _until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_billing_killed_between_reserve_and_consume(stack: RunningStack) -> None:
    client = StackClient(stack.info)
    tenant, post = f"crash-{short_id(8)}", f"p-{short_id(8)}"
    try:
        await client.put_brand(tenant)
        await client.grant(tenant, 100, f"grant-{tenant}")
        await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}"))
        job = await client.find_job(tenant, post)

        async def held() -> bool:
            return any(e.kind == "hold" for e in await _job_entries(client, tenant, job.job_id))

        await _until(held, 60, "the job's hold")
        stack.kill("billing")

        # The rest of the pipeline goes on; the video is stored, but the job cannot finish without billing.
        async def stored() -> bool:
            return any(m.media_type == "social_video" for m in await client.list_media(tenant, post))

        await _until(stored, 120, "the video to be stored while billing is down")
        await asyncio.sleep(3)  # the dispatcher's consume meets a dead billing at least once
        assert (await client.get_job(job.job_id)).status == c.JOB_STATUS_RUNNING
    finally:
        stack.up()

    async def ended() -> bool:
        return (await client.get_job(job.job_id)).status in TERMINAL

    try:
        await _until(ended, 180, "the job to end after billing came back")
        job = await client.get_job(job.job_id)
        entries = await _job_entries(client, tenant, job.job_id)
        kinds = Counter(e.kind for e in entries)
        balance = await client.balance(tenant)
        assert kinds["hold"] == 1, entries
        if job.status == c.JOB_STATUS_SUCCEEDED:
            assert kinds == {"hold": 1, "consume": 1}, entries
            assert (balance.balance, balance.held) == (85, 0)
        else:
            assert kinds == {"hold": 1, "release": 1} or kinds == {"hold": 1, "expire": 1}, entries
            assert (balance.balance, balance.held) == (100, 0)
        assert job.status == c.JOB_STATUS_SUCCEEDED, f"the job should survive a billing restart: {job.error}"
    finally:
        await client.close()


async def test_billing_down_when_the_job_reserves(stack: RunningStack) -> None:
    """Billing is dead before the approval arrives: the dispatcher retries Reserve, and its key makes one hold."""
    client = StackClient(stack.info)
    tenant, post = f"crash-{short_id(8)}", f"p-{short_id(8)}"
    try:
        await client.put_brand(tenant)
        await client.grant(tenant, 100, f"grant-{tenant}")
        stack.kill("billing")
        try:
            await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}"))
            job = await client.find_job(tenant, post)
            await asyncio.sleep(3)  # the dispatcher's quote / reserve meets a dead billing at least once
            job = await client.get_job(job.job_id)
            assert (job.status, job.step) == (c.JOB_STATUS_RUNNING, c.JOB_STEP_RESERVING)
        finally:
            stack.up()

        async def ended() -> bool:
            return (await client.get_job(job.job_id)).status in TERMINAL

        await _until(ended, 180, "the job to end after billing came back")
        job = await client.get_job(job.job_id)
        assert job.status == c.JOB_STATUS_SUCCEEDED, job.error
        entries = await _job_entries(client, tenant, job.job_id)
        assert Counter(e.kind for e in entries) == {"hold": 1, "consume": 1}, entries
        balance = await client.balance(tenant)
        assert (balance.balance, balance.held) == (85, 0)
    finally:
        await client.close()
