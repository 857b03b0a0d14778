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
from tests.dispatcher.support import approve, events_of, ledger, new_post, status_changes, tenant_client, wait_runs
from tests.reliability.support import (
    assert_charged_once,
    assert_succeeded,
    bring_up,
    finished,
    job_of,
    job_when,
    print_job_log,
    restarted_with,
    step_name,
    take_down,
)

GRANT = 100
# Short enough to wait out, long enough for a dispatcher restart and an approval to land before it.
DEADLINE_S = 30
# Approvals that failed to reserve come back only this much later (the dispatcher's first backoff step).
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
        posts = {first: new_post(), second: new_post(), third: new_post()}
        backoff = str(LONG_BACKOFF_S)
        async with restarted_with(stack, "dispatcher", BUS_BACKOFF_BASE_S=backoff, BUS_BACKOFF_CAP_S=backoff):
            await asyncio.to_thread(take_down, stack, "billing")
            try:
                for tenant in (first, second):
                    await approve(client, tenant, posts[tenant])
                # Each job exists once its approval was handled: its reserve failed and it waits in backoff.
                waiting = [await job_of(client, tenant, posts[tenant]) for tenant in (first, second)]
            finally:
                await bring_up(stack, "billing")
            await approve(client, third, posts[third])
            late = await job_of(client, third, posts[third])
            await job_when(client, late.job_id, lambda job: step_name(job) != "reserving", "past reserving", 120)

            jobs = [await assert_succeeded(client, job.job_id) for job in (*waiting, late)]
        reserved_at = {job.job_id: await _reserved_at(client, job.job_id) for job in jobs}
        # The third approval went through while the two before it were still waiting out their backoff.
        assert reserved_at[late.job_id] < min(reserved_at[job.job_id] for job in waiting), reserved_at
        for job in jobs:
            await assert_charged_once(client, job.tenant_id, job, GRANT)


async def _reserved_at(client, job_id: str) -> float:  # type: ignore[no-untyped-def]
    events = await events_of(client, job_id)
    times = [e.time.ToDatetime().timestamp() for e in events if e.message.startswith("reserved ")]
    assert len(times) == 1, [e.message for e in events]
    return times[0]
