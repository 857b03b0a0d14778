"""Fair admission under a burst, on the real stack (TENANT_MAX_IN_FLIGHT 2, JOBS_MAX_IN_FLIGHT 4): one tenant's 24
approvals wait their turn, two other tenants' single jobs go first, the caps hold (sampled through the API and exact
from the logged admission and end times), and the waiting jobs show and stream their place. Its own file (and
stack): 26 real renders take minutes, and a file is the unit the suite's workers share out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from tests.conftest import RunningStack
from tests.dispatcher.admission_support import (
    TENANT_CAP,
    TOTAL_CAP,
    admissions,
    approve_all,
    capped,
    job_for,
    most_in_flight,
    sampling,
)
from tests.dispatcher.support import (
    approve,
    new_post,
    status_changes,
    tenant_client,
    wait_job,
)


@pytest.fixture(scope="module")
def capped_stack() -> Iterator[RunningStack]:
    with capped() as running:
        yield running


@pytest.mark.timeout(1800)  # 26 real renders, two of the tenant's at a time: minutes on a busy machine
async def test_a_burst_waits_its_turn_and_other_tenants_go_first(capped_stack: RunningStack) -> None:
    stack = capped_stack
    started = time.monotonic()
    async with (
        tenant_client(stack, credits=24 * 15) as (client, a),
        tenant_client(stack) as (_, b),
        tenant_client(stack) as (_, c_tenant),
    ):
        async with sampling(client) as sampler:
            a_posts = await approve_all(client, a, 24)
            a_jobs = [await job_for(client, a, post) for post in a_posts]
            b_post, c_post = new_post(), new_post()
            await approve(client, b, b_post)
            await approve(client, c_tenant, c_post)
            b_job, c_job = await job_for(client, b, b_post), await job_for(client, c_tenant, c_post)

            # A's waiting jobs say where they stand; the last one's stream follows its place as the queue moves.
            last = a_jobs[-1]
            waiting = await client.get_job(last.job_id)
            assert waiting.status == c.JOB_STATUS_QUEUED and waiting.queue_position > 0, waiting
            assert waiting.label == f"Waiting for a free slot: {waiting.queue_position} ahead"
            assert waiting.post_status == c.POST_STATUS_DESIGN_PENDING
            queued = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=a, status=c.JOB_STATUS_QUEUED))
            assert len(queued.jobs) >= 10 and all(j.label.startswith("Waiting for a free slot") for j in queued.jobs)
            positions: list[int] = []
            async for update in client.watch(last.job_id):
                if update.job.status != c.JOB_STATUS_QUEUED:
                    break
                positions.append(update.job.queue_position)

            everyone = [*a_jobs, b_job, c_job]
            ended = await asyncio.gather(*(wait_job(client, job.job_id, timeout_s=900) for job in everyone))
        elapsed = time.monotonic() - started

        assert all(job.status == c.JOB_STATUS_SUCCEEDED for job in ended), [(j.job_id, j.error) for j in ended]
        # The stream showed the place moving forward, one slot at a time or more.
        assert len(positions) >= 3 and positions == sorted(positions, reverse=True) and positions[-1] < positions[0]
        # B and C were not held behind A's burst: both ended before A had finished 8.
        finished_order = [job.job_id for job in sorted(ended, key=lambda j: j.updated_at.ToDatetime())]
        a_ids = {job.job_id for job in a_jobs}
        for other in (b_job, c_job):
            a_before = sum(1 for job_id in finished_order[: finished_order.index(other.job_id)] if job_id in a_ids)
            assert a_before < 8, (other.tenant_id, a_before)
        # Never above the caps: sampled through the API, and exactly from the logged admission and end times.
        assert sampler.samples > 10 and sampler.most_total <= TOTAL_CAP and sampler.most_per_tenant[a] <= TENANT_CAP
        admitted = await admissions(client, [job.job_id for job in ended])
        assert all(len(times) == 1 for times in admitted.values()), admitted
        most, per_tenant = most_in_flight(ended, admitted)
        assert most <= TOTAL_CAP and per_tenant[a] <= TENANT_CAP, (most, per_tenant)
        # The post said design_pending while it waited, then generating_video, then client_review.
        changes = await status_changes(stack.info["nats_url"], a, a_posts[-1])
        assert [e.post_status for e in changes][:3] == [
            c.POST_STATUS_DESIGN_PENDING,
            c.POST_STATUS_GENERATING_VIDEO,
            c.POST_STATUS_CLIENT_REVIEW,
        ]
    print(f"26 jobs in {elapsed:.0f} s, {sampler.samples} samples")
