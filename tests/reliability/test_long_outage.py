"""`make test-outage`: billing down for 10 minutes while a post is approved, with the production defaults (backoff
capped at 60 s, the job's deadline an hour): once billing is back the job completes, charged once.

Not part of `make test` (it takes about a quarter of an hour): skipped unless `SVD_OUTAGE_TESTS=1`, which the make
target sets. Only the provider poll delays are shortened, as for every stack test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from social_video.v1 import common_pb2 as c
from tests.conftest import RunningStack, running_stack
from tests.dispatcher.support import approve, new_post, tenant_client
from tests.reliability.support import (
    Timeline,
    assert_charged_once,
    assert_one_video,
    assert_succeeded,
    bring_up,
    job_of,
    step_name,
    take_down,
)

pytestmark = [
    pytest.mark.outage,
    pytest.mark.skipif(os.environ.get("SVD_OUTAGE_TESTS") != "1", reason="set SVD_OUTAGE_TESTS=1 (make test-outage)"),
    pytest.mark.timeout(3600),
]

OUTAGE_S = 600.0
GRANT = 100
# After the outage: the next retry (backoff capped at 60 s) and the gRPC channel's reconnect backoff (up to 120 s).
RECOVERY_TIMEOUT_S = 900.0


@pytest.fixture(scope="module")
def production_stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


async def test_billing_down_ten_minutes_with_production_defaults_the_job_completes_charged_once(
    production_stack,
) -> None:
    stack = production_stack
    async with tenant_client(stack, credits=GRANT) as (client, tenant):
        timeline = Timeline()
        await asyncio.to_thread(take_down, stack, "billing")
        timeline.note("billing killed")
        post = new_post()
        await approve(client, tenant, post)
        job = await job_of(client, tenant, post)
        await asyncio.sleep(OUTAGE_S)

        waiting = await client.get_job(job.job_id)
        timeline.note(f"job {c.JobStatus.Name(waiting.status)} at {step_name(waiting)}")
        assert waiting.status == c.JOB_STATUS_RUNNING, waiting.error
        assert step_name(waiting) == "reserving"
        await bring_up(stack, "billing")
        back = timeline.note("billing back")

        done = await assert_succeeded(client, job.job_id, RECOVERY_TIMEOUT_S)
        print(f"outage: billing down {OUTAGE_S:.0f} s; job done {timeline.note('job succeeded') - back:.1f} s later")
        await assert_charged_once(client, tenant, done, GRANT)
        await assert_one_video(client, done)
