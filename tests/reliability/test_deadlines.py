"""Outages longer than a job may live, and approvals waiting one out.

A job whose part stays down past its deadline ends `failed` (the sweeper: "timeout: stuck at <step>"), holds
nothing, and leaves its post free for a new approval. Approvals waiting out a billing outage (in backoff) never
hold up another tenant's approval once billing is back: upstream consumers are no longer capped at two messages
awaiting an ack, which counted the ones in backoff.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from tests.dispatcher.support import approve, ledger, new_post, status_changes, tenant_client, wait_runs
from tests.reliability.support import (
    assert_charged_once,
    assert_succeeded,
    bring_up,
    finished,
    job_of,
    job_when,
    print_job_log,
    reconnected,
    restarted_with,
    step_name,
    take_down,
)

GRANT = 100
# Short enough to wait out, long enough for a dispatcher restart and an approval to land before it.
DEADLINE_S = 20
# Approvals that failed to reserve come back only this much later (the dispatcher's first backoff step): far later
# than billing's restart and the third approval take.
LONG_BACKOFF_S = 60


async def test_billing_down_past_the_deadline_fails_the_job_holds_nothing_and_frees_the_post(
    short_budget_stack,
) -> None:
    stack = short_budget_stack
    async with tenant_client(stack, credits=GRANT) as (client, tenant):
        post = new_post()
        async with restarted_with(stack, "dispatcher", JOB_DEADLINE_S=str(DEADLINE_S)):
            await asyncio.to_thread(take_down, stack, "billing")
            try:
                await approve(client, tenant, post)
                stranded = await job_of(client, tenant, post)
                ended = await finished(client, stranded.job_id, timeout_s=DEADLINE_S + 180)
            finally:
                await bring_up(stack, "billing")
        await print_job_log(client, ended.job_id)

        assert ended.status == c.JOB_STATUS_FAILED, ended
        # The sweeper's reason, or a dead letter's if the event gave up first.
        assert ended.error.startswith("timeout: stuck at reserving") or "could not be processed" in ended.error, (
            ended.error
        )
        assert ended.failed_phase == c.JOB_STEP_RESERVING
        assert ended.post_status == c.POST_STATUS_DM_REVIEW
        assert ended.deliverable_status == c.DELIVERABLE_STATUS_FAILED
        changes = await status_changes(stack.info["nats_url"], tenant, post)
        assert changes and changes[-1].post_status == c.POST_STATUS_DM_REVIEW, changes
        assert changes[-1].reason == ended.error
        balance = await client.balance(tenant)
        assert (balance.balance, balance.held) == (GRANT, 0), balance
        assert not [e for e in await ledger(client, tenant) if e.job_id == ended.job_id]

        # The post is not blocked by the dead job: a new approval starts one, which completes.
        await approve(client, tenant, post)
        second = (await wait_runs(client, tenant, post, runs=2, timeout_s=120))[-1]
        assert second.job_id != ended.job_id
        done = await assert_succeeded(client, second.job_id)
        await assert_charged_once(client, tenant, done, GRANT)


async def test_approvals_waiting_out_a_billing_outage_do_not_hold_up_another_tenants_approval(
    short_budget_stack,
) -> None:
    stack = short_budget_stack
    async with AsyncExitStack() as tenants:
        (client, first), (_, second), (_, third) = [
            await tenants.enter_async_context(tenant_client(stack, credits=GRANT)) for _ in range(3)
        ]
        backoff = str(LONG_BACKOFF_S)
        async with restarted_with(stack, "dispatcher", BUS_BACKOFF_BASE_S=backoff, BUS_BACKOFF_CAP_S=backoff):
            await asyncio.to_thread(take_down, stack, "billing")
            try:
                for tenant in (first, second):
                    await approve(client, tenant, new_post())
                # Each job exists once its approval was handled: queued unchecked, admitted, its reserve failing.
                waiting = [await job_of(client, tenant) for tenant in (first, second)]
            finally:
                await bring_up(stack, "billing")
            # Not what this test is about: the dispatcher's channel to billing waits out its reconnect backoff.
            print(f"dispatcher reconnected to billing {await reconnected(stack, 'dispatcher', 'billing'):.1f} s after")
            await approve(client, third, new_post())
            late = await job_of(client, third)
            await job_when(client, late.job_id, lambda job: step_name(job) != "reserving", "past reserving", 120)

            # The third approval went through whatever became of the two before it (admitted at once, their start is
            # resumed by admission's own tick once billing is back).
            for job in waiting:
                job = await client.get_job(job.job_id)
                assert job.status in (c.JOB_STATUS_RUNNING, c.JOB_STATUS_SUCCEEDED), job
                if job.status == c.JOB_STATUS_RUNNING:
                    await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="test done"))
            done = await assert_succeeded(client, late.job_id)
        await assert_charged_once(client, third, done, GRANT)
