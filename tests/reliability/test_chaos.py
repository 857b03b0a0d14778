"""Chaos: 24 jobs over 4 tenants in flight while NATS, PostgreSQL, the S3 store and each of the five services are
killed in turn (SIGKILL, by pid) and brought back with `svd up`: every job succeeds with one video, one provider
task each, and the credits are exact (each tenant's balance is its grant minus what its jobs consumed, nothing
held).

Approvals come in waves, one before each kill, so every kill finds jobs at different steps. The figures (jobs,
kills, time to recover: from the last restart until every job has ended) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from svd.ids import short_id
from svd_stack.client import StackClient
from tests.conftest import RunningStack
from tests.dispatcher.support import approve, new_post
from tests.reliability.support import (
    RUNWAY_5S,
    Timeline,
    assert_one_video,
    bring_up,
    consumed_for,
    finished,
    job_of,
    status_name,
    step_name,
    take_down,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

TENANTS = 4
JOBS = 24
VICTIMS = ("nats", "postgres", "s3", "billing", "media_store", "dispatcher", "still_frame", "video_gateway")
PER_WAVE = JOBS // len(VICTIMS)
DOWN_S = 3.0
GRANT = 200
# Every job once the last part is back: redeliveries after an ack wait (up to 60 s) and reconnect backoffs included.
RECOVERY_TIMEOUT_S = 900.0


async def test_every_part_killed_in_turn_with_24_jobs_in_flight_every_job_succeeds_credits_exact(
    short_budget_stack,
) -> None:
    stack = short_budget_stack
    client = StackClient(stack.info)
    try:
        earlier_tasks = await _provider_tasks(stack)
        tenants = [f"t-{short_id(8)}" for _ in range(TENANTS)]
        for tenant in tenants:
            await client.put_brand(tenant)
            await client.grant(tenant, GRANT, f"grant-{tenant}")
        posts: list[tuple[str, str]] = []
        timeline = Timeline()
        for victim in VICTIMS:
            wave = [(tenants[(len(posts) + i) % TENANTS], new_post()) for i in range(PER_WAVE)]
            for tenant, post in wave:
                await approve(client, tenant, post)
            posts += wave
            # The wave is in flight once its jobs exist.
            steps = [step_name(await job_of(client, tenant, post)) for tenant, post in wave]
            await asyncio.to_thread(take_down, stack, victim)
            timeline.note(f"{victim} killed; the new wave at {steps}")
            await asyncio.sleep(DOWN_S)
            await bring_up(stack, victim)
            last_up = timeline.note(f"{victim} back")

        jobs = [await finished(client, (await job_of(client, t, p)).job_id, RECOVERY_TIMEOUT_S) for t, p in posts]
        recovered_s = time.monotonic() - timeline.started - last_up
        timeline.note("every job ended")
        outcomes = sorted(f"{status_name(job)}@{step_name(job)}: {job.error}" for job in jobs)
        print(
            f"chaos: {len(jobs)} jobs over {TENANTS} tenants, {len(VICTIMS)} kills ({', '.join(VICTIMS)}), "
            f"{DOWN_S:.0f} s down each; time to recover (last restart to all jobs done): {recovered_s:.1f} s; "
            f"total {timeline.entries[-1][0]:.1f} s",
            flush=True,
        )
        assert all(status_name(job) == "succeeded" for job in jobs), outcomes

        for job in jobs:
            await assert_one_video(client, job)
        for tenant in tenants:
            consumed = await consumed_for(client, tenant)
            own = {job.job_id for job in jobs if job.tenant_id == tenant}
            assert set(consumed) == own, f"{tenant}: consumes for {sorted(consumed)}, jobs {sorted(own)}"
            assert all(amounts == [RUNWAY_5S] for amounts in consumed.values()), consumed
            balance = await client.balance(tenant)
            expected = GRANT - sum(sum(amounts) for amounts in consumed.values())
            assert (balance.balance, balance.held) == (expected, 0), balance

        tasks = sorted((await _provider_tasks(stack)) - earlier_tasks)
        print(f"chaos: {len(tasks)} provider tasks for {len(jobs)} jobs", flush=True)
        assert tasks == sorted(job.provider_job_id for job in jobs)
    finally:
        await client.close()


async def _provider_tasks(stack: RunningStack) -> set[str]:
    """Ids of every task the provider simulator was given."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{stack.info['provider_sim_url']}/_sim/tasks")
    return {task["id"] for task in response.json()["tasks"]}
