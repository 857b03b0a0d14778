"""Fair admission on the real stack (TENANT_MAX_IN_FLIGHT 2, JOBS_MAX_IN_FLIGHT 4): a burst never starves another
tenant nor exceeds a cap, two replicas never admit a job twice, a dispatcher killed while starting an admitted job
starts it once after restart, credits are checked at approval, and a queued job cancels without billing or provider.

Caps are checked two ways: by sampling the job API while jobs run, and exactly, from every job's admission time
(its "admitted" event) and end (its last update): at each admission, the jobs admitted and not yet ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, pipeline_pb2
from svd.db.pool import conninfo
from svd_stack.checks import grpc_serving
from svd_stack.client import StackClient
from svd_stack.ports import pick_free_port
from tests.conftest import REPO, RunningStack, running_stack
from tests.dispatcher.support import (
    Simulator,
    approve,
    events_of,
    jobs_of,
    ledger,
    new_post,
    status_changes,
    subject_messages,
    tenant_client,
    wait_job,
)

TENANT_CAP = 2
TOTAL_CAP = 4
ADMITTED = "admitted: a slot is free"


@pytest.fixture(scope="module")
def capped_stack() -> Iterator[RunningStack]:
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


@contextlib.contextmanager
def dispatcher_replica(stack: RunningStack, log_dir: Path) -> Iterator[str]:
    """A second dispatcher process (the stack's environment, its own gRPC port) sharing the queue and consumers."""
    raw = Path(f"/proc/{stack.pid('dispatcher')}/environ").read_bytes()
    env = dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    env["GRPC_LISTEN"] = grpc = f"127.0.0.1:{pick_free_port()}"
    env.pop("METRICS_PORT", None)  # the stack's dispatcher serves its scrape endpoint there
    log = log_dir / "dispatcher-replica.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dispatcher"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while not grpc_serving(grpc):
            assert process.poll() is None, f"replica exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "replica not serving after 90 s"
            time.sleep(0.2)
        yield grpc
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def test_two_replicas_never_exceed_the_caps_nor_admit_twice(capped_stack: RunningStack, tmp_path: Path) -> None:
    stack = capped_stack
    with dispatcher_replica(stack, tmp_path):
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
