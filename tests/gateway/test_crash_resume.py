"""kill -9 the gateway while 20 jobs are mid-poll, start it again: all 20 complete, none twice.

The poll loop keeps nothing in the process: each job's poll message waits in JetStream (negative-acknowledged with
its delay) and the run's state is in PostgreSQL, so a new process picks up every job where it was. Messages in
flight at the kill come back after the consumer's ack wait; dedup ids and conditional state changes keep their
outcomes single.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd_stack.client import StackClient
from tests.conftest import RunningStack, running_stack
from tests.gateway.helpers import Sim, new_tenant, pipeline_messages, start_job, submission, wait_for, wait_terminal

JOBS = 20
# After the restart every job still renders (90 s) and is conformed, twenty at once through media-store's two slots,
# on a machine the other test workers keep busy: minutes, not seconds.
AFTER_RESTART_S = 420

pytestmark = [pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("svd-crash"),
        VIDEO_POLL_INITIAL_DELAY_S="2",
        VIDEO_POLL_INTERVAL_S="2",
        VIDEO_POLL_MAX_ATTEMPTS="120",
        # Every job in flight at once (one tenant's 20): admission must not hold any back for this test.
        JOBS_MAX_IN_FLIGHT=str(JOBS),
        TENANT_MAX_IN_FLIGHT=str(JOBS),
    ) as running:
        yield running


async def test_a_killed_gateway_resumes_every_job_mid_poll_and_finishes_each_once(crash_stack: RunningStack) -> None:
    info = crash_stack.info
    sim = Sim(info)
    client = StackClient(info)
    try:
        tenant = await new_tenant(client, credits=JOBS * 15 + 100)
        # Every render outlasts the wait for all twenty to be submitted and checked once (a minute on a busy machine).
        sim.faults(provider="runway", slow_seconds=90, slow_count=JOBS)
        jobs = await asyncio.gather(*(start_job(client, tenant) for _ in range(JOBS)))

        async def all_mid_poll() -> bool:
            current = [await client.get_job(j.job_id) for j in jobs]
            ended = [
                (j.job_id, j.status, j.error)
                for j in current
                if j.status in (c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED)
            ]
            assert not ended, ended
            if not all(j.provider_job_id for j in current):
                return False
            polled = {r["task_id"] for r in sim.requests(provider="runway", op="status")}
            return all(j.provider_job_id in polled for j in current)

        await wait_for(all_mid_poll, 120, "every job to be submitted and checked once")
        checks_before = {j.job_id: submission(info, j.job_id)["checks"] for j in jobs}
        assert all(submission(info, j.job_id)["state"] == "polling" for j in jobs)

        crash_stack.kill("video_gateway")
        await asyncio.sleep(3)  # checks fall due while no gateway runs
        crash_stack.up("video_gateway")

        finished = await asyncio.gather(*(wait_terminal(client, j.job_id, timeout_s=AFTER_RESTART_S) for j in jobs))
        assert [j.status for j in finished] == [c.JOB_STATUS_SUCCEEDED] * JOBS, [j.error for j in finished]
        for job in finished:
            row = submission(info, job.job_id)
            assert row["state"] == "succeeded" and row["checks"] > checks_before[job.job_id]

        ids = {j.job_id for j in jobs}
        tasks = {j.provider_job_id for j in finished}
        submits = [r for r in sim.requests(provider="runway", op="submit") if r["task_id"] in tasks]
        assert len(submits) == JOBS  # one provider task per job
        ready = Counter(m.ref.job_id for m in await pipeline_messages(info, "video.ready", pipeline_pb2.VideoReady))
        assert {job_id: ready[job_id] for job_id in ids} == dict.fromkeys(ids, 1)  # never doubled
        for job in finished:
            videos = [m for m in await client.list_media(tenant, job.social_post_id) if m.media_type == "social_video"]
            assert len(videos) == 1
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (100, 0)
    finally:
        await client.close()
