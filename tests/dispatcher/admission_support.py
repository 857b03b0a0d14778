"""What the fair-admission stack tests share: a stack with small caps, sampling the running jobs through the API,
and reading each job's admission from its event log."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.dispatcher.support import (
    approve,
    events_of,
    jobs_of,
    new_post,
)

TENANT_CAP = 2
TOTAL_CAP = 4
ADMITTED = "admitted: a slot is free"


@contextlib.contextmanager
def capped() -> Iterator[RunningStack]:
    """A whole stack with TENANT_MAX_IN_FLIGHT 2 and JOBS_MAX_IN_FLIGHT 4 (each test file opens its own)."""
    with running_stack(
        TENANT_MAX_IN_FLIGHT=str(TENANT_CAP),
        JOBS_MAX_IN_FLIGHT=str(TOTAL_CAP),
        ADMISSION_RESUME_AFTER_S="2",
        ADMISSION_TICK_S="1",
    ) as running:
        yield running


@dataclass
class Sampler:
    """Samples the running jobs through the API (admin ListJobs) until stopped."""

    client: StackClient
    most_total: int = 0
    most_per_tenant: Counter[str] = field(default_factory=Counter)
    samples: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            running = await self.client.jobs.ListJobs(jobs_pb2.ListJobsRequest(status=c.JOB_STATUS_RUNNING, limit=200))
            per_tenant = Counter(job.tenant_id for job in running.jobs)
            self.most_total = max(self.most_total, len(running.jobs))
            for tenant, count in per_tenant.items():
                self.most_per_tenant[tenant] = max(self.most_per_tenant[tenant], count)
            self.samples += 1
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def sampling(client: StackClient) -> AsyncIterator[Sampler]:
    sampler, stop = Sampler(client), asyncio.Event()
    task = asyncio.create_task(sampler.run(stop))
    try:
        yield sampler
    finally:
        stop.set()
        await task


async def admissions(client: StackClient, job_ids: list[str]) -> dict[str, list[float]]:
    """Each job's admission times (seconds since the epoch) from its event log."""
    found = {}
    for job_id in job_ids:
        events = await events_of(client, job_id)
        found[job_id] = [e.time.ToDatetime().timestamp() for e in events if e.message == ADMITTED]
    return found


def most_in_flight(jobs: list[jobs_pb2.Job], admitted: dict[str, list[float]]) -> tuple[int, Counter[str]]:
    """The most jobs in flight at any admission, in all and per tenant (exact, from the logged times)."""
    spans = [(admitted[j.job_id][0], j.updated_at.ToDatetime().timestamp(), j.tenant_id) for j in jobs]
    most, per_tenant = 0, Counter[str]()
    for start, _, tenant in spans:
        live = [s for s in spans if s[0] <= start < s[1]]
        most = max(most, len(live))
        per_tenant[tenant] = max(per_tenant[tenant], sum(1 for s in live if s[2] == tenant))
    return most, per_tenant


async def approve_all(client: StackClient, tenant: str, count: int) -> list[str]:
    posts = [new_post() for _ in range(count)]
    await asyncio.gather(*(approve(client, tenant, post) for post in posts))
    return posts


async def job_for(client: StackClient, tenant: str, post: str) -> jobs_pb2.Job:
    for _ in range(300):
        found = await jobs_of(client, tenant, post)
        if found:
            return found[-1]
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no job for post {post}")


async def still_waiting(client: StackClient, jobs: list[jobs_pb2.Job]) -> jobs_pb2.Job:
    """The one job left queued once the tenant's cap of the others run (a new job is queued for a moment anyway)."""
    for _ in range(300):
        now = [await client.get_job(job.job_id) for job in jobs]
        running = [job for job in now if job.status == c.JOB_STATUS_RUNNING and job.reservation_id]
        queued = [job for job in now if job.status == c.JOB_STATUS_QUEUED]
        if len(running) == TENANT_CAP and len(queued) == 1:
            return queued[0]
        await asyncio.sleep(0.1)
    raise TimeoutError(f"not {TENANT_CAP} running and one queued: {[(j.status, j.step) for j in now]}")
