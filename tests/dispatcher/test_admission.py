"""Fair admission on the real stack (TENANT_MAX_IN_FLIGHT 2, JOBS_MAX_IN_FLIGHT 4): two replicas never exceed a cap
nor admit a job twice (the burst is `test_admission_burst`), a dispatcher killed while starting an admitted job
starts it once after restart, credits are checked at approval, and a queued job cancels without billing or provider.

Caps are checked two ways: by sampling the job API while jobs run, and exactly, from every job's admission time
(its "admitted" event) and end (its last update): at each admission, the jobs admitted and not yet ended.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, pipeline_pb2
from svd.db.pool import conninfo
from svd_stack.client import StackClient
from tests.conftest import RunningStack
from tests.dispatcher.admission_support import (
    ADMITTED,
    TENANT_CAP,
    TOTAL_CAP,
    admissions,
    approve_all,
    capped,
    job_for,
    most_in_flight,
    sampling,
    still_waiting,
)
from tests.dispatcher.support import (
    Simulator,
    approve,
    events_of,
    ledger,
    new_post,
    status_changes,
    subject_messages,
    tenant_client,
    wait_job,
)
from tests.replica import service_replica


@pytest.fixture(scope="module")
def capped_stack() -> Iterator[RunningStack]:
    with capped() as running:
        yield running


async def test_two_replicas_never_exceed_the_caps_nor_admit_twice(capped_stack: RunningStack, tmp_path: Path) -> None:
    stack = capped_stack
    with service_replica(stack, "dispatcher", tmp_path):
        async with (
            tenant_client(stack, credits=6 * 15) as (client, a),
            tenant_client(stack, credits=3 * 15) as (_, b),
            tenant_client(stack, credits=3 * 15) as (_, c_tenant),
            sampling(client) as sampler,
        ):
            posts = {
                a: await approve_all(client, a, 6),
                b: await approve_all(client, b, 3),
                c_tenant: await approve_all(client, c_tenant, 3),
            }
            jobs = [await job_for(client, tenant, post) for tenant, ps in posts.items() for post in ps]
            ended = await asyncio.gather(*(wait_job(client, job.job_id, timeout_s=600) for job in jobs))
            admitted = await admissions(client, [job.job_id for job in ended])
    assert all(job.status == c.JOB_STATUS_SUCCEEDED for job in ended), [(j.job_id, j.error) for j in ended]
    assert all(len(times) == 1 for times in admitted.values()), admitted
    most, per_tenant = most_in_flight(ended, admitted)
    assert most <= TOTAL_CAP and max(per_tenant.values()) <= TENANT_CAP, (most, per_tenant)
    assert sampler.most_total <= TOTAL_CAP and max(sampler.most_per_tenant.values()) <= TENANT_CAP
    # One design request per job: no job was started twice either.
    requests = Counter(
        pipeline_pb2.DesignRequested.FromString(m.data).ref.job_id
        for m in await subject_messages(stack.info["nats_url"], "video.design.requested", timeout_s=1.0)
    )
    assert all(requests[job.job_id] == 1 for job in ended), requests


async def test_a_dispatcher_killed_while_starting_an_admitted_job_starts_it_once_after_restart(
    capped_stack: RunningStack,
) -> None:
    stack = capped_stack
    async with tenant_client(stack, credits=3 * 15) as (client, tenant):
        posts = await approve_all(client, tenant, 3)
        jobs = [await job_for(client, tenant, post) for post in posts]
        waiting = await still_waiting(client, jobs)
        # Holding the tenant's credit lock stops the start of its next admitted job right after its admission
        # committed (reserving takes that lock): the dispatcher is killed exactly there.
        key = f"svd-credits/{tenant}"
        async with await psycopg.AsyncConnection.connect(conninfo(stack.info["database_url"]), autocommit=True) as db:
            await db.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            for _ in range(600):
                job = await client.get_job(waiting.job_id)
                if job.status == c.JOB_STATUS_RUNNING:
                    break
                await asyncio.sleep(0.1)
            assert job.status == c.JOB_STATUS_RUNNING and not job.reservation_id, job
            stack.kill("dispatcher")
            await db.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
        stack.up("dispatcher")
        await client.close()
        client = StackClient(stack.info)  # the restarted dispatcher listens where it did
        ended = [await wait_job(client, job.job_id, timeout_s=300) for job in jobs]
        assert all(job.status == c.JOB_STATUS_SUCCEEDED for job in ended), [(j.job_id, j.error) for j in ended]
        admitted = await admissions(client, [job.job_id for job in ended])
        assert all(len(times) == 1 for times in admitted.values()), admitted
        holds = [entry for entry in await ledger(client, tenant) if entry.kind == "hold"]
        assert Counter(entry.job_id for entry in holds) == Counter({job.job_id: 1 for job in ended})
        resumed = await client.get_job(waiting.job_id)
        assert resumed.credits_consumed == 15


async def test_a_tenant_that_cannot_afford_its_next_job_is_told_at_approval(capped_stack: RunningStack) -> None:
    stack = capped_stack
    async with tenant_client(stack, credits=30) as (client, tenant):
        started = time.monotonic()
        posts = await approve_all(client, tenant, 5)
        jobs = [await job_for(client, tenant, post) for post in posts]
        refused = [job for job in jobs if job.status == c.JOB_STATUS_FAILED]
        assert len(refused) == 3 and time.monotonic() - started < 30, [(j.status, j.error) for j in jobs]
        for job in refused:
            assert job.error.startswith("insufficient credits: need 15, available 0"), job.error
            assert job.failed_phase == c.JOB_STEP_RESERVING and job.credits_reserved == 0
            shown = await client.get_job(job.job_id)
            assert shown.post_status == c.POST_STATUS_DM_REVIEW
            changes = await status_changes(stack.info["nats_url"], tenant, job.social_post_id)
            assert [e.post_status for e in changes] == [c.POST_STATUS_DM_REVIEW]
            assert changes[0].reason == job.error
        ran = [await wait_job(client, job.job_id, timeout_s=300) for job in jobs if job not in refused]
        assert [job.status for job in ran] == [c.JOB_STATUS_SUCCEEDED] * 2
        holds = [entry.job_id for entry in await ledger(client, tenant) if entry.kind == "hold"]
        assert sorted(holds) == sorted(job.job_id for job in ran)


async def test_cancelling_a_queued_job_touches_neither_credits_nor_providers(capped_stack: RunningStack) -> None:
    stack = capped_stack
    async with tenant_client(stack, credits=3 * 15) as (client, tenant):
        posts = await approve_all(client, tenant, 3)
        jobs = [await job_for(client, tenant, post) for post in posts]
        waiting = await still_waiting(client, jobs)
        response = await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=waiting.job_id, reason="not needed"))
        assert response.job.status == c.JOB_STATUS_CANCELLED
        assert response.job.error == "cancelled: not needed"
        others = [await wait_job(client, job.job_id, timeout_s=300) for job in jobs if job.job_id != waiting.job_id]
        assert [job.status for job in others] == [c.JOB_STATUS_SUCCEEDED] * 2
        cancelled = await client.get_job(waiting.job_id)
        assert cancelled.status == c.JOB_STATUS_CANCELLED and not cancelled.reservation_id
        assert cancelled.credits_reserved == 0 and not cancelled.provider_job_id and not cancelled.still_key
        assert waiting.job_id not in {entry.job_id for entry in await ledger(client, tenant)}
        events = [e.message for e in await events_of(client, waiting.job_id)]
        assert ADMITTED not in events
        cancels = [
            pipeline_pb2.VideoCancel.FromString(m.data).ref.job_id
            for m in await subject_messages(stack.info["nats_url"], "video.cancel", timeout_s=1.0)
        ]
        designs = [
            pipeline_pb2.DesignRequested.FromString(m.data).ref.job_id
            for m in await subject_messages(stack.info["nats_url"], "video.design.requested", timeout_s=1.0)
        ]
        assert waiting.job_id not in cancels and waiting.job_id not in designs
        assert (await client.balance(tenant)).available == 45 - 2 * 15


async def test_a_task_the_provider_throttles_says_so_and_still_finishes(capped_stack: RunningStack) -> None:
    stack = capped_stack
    simulator = Simulator(stack)
    simulator.clear()
    simulator.fault(provider="runway", throttle_seconds=8)
    try:
        async with tenant_client(stack) as (client, tenant):
            post = new_post()
            await approve(client, tenant, post)
            job = await job_for(client, tenant, post)
            labels = [update.label async for update in client.watch(job.job_id)]
            ended = await wait_job(client, job.job_id)
    finally:
        simulator.clear()
    assert ended.status == c.JOB_STATUS_SUCCEEDED, ended.error
    throttled = "Waiting at runway: throttled (over the account's concurrency)"
    assert throttled in labels and labels.index(throttled) < len(labels) - 1, labels
