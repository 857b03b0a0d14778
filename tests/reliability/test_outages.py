"""One part of the stack down for longer than every retry budget of the old consumer, then back: the job in flight
completes, charged once, with one video.

The budgets are shrunk (see this folder's conftest): with a backoff cap of 2 s, the old consumer (JetStream's
`max_deliver` of 10) silently dropped a message after about 15 s of retries, leaving its job `running` forever; each
outage here lasts 25 s. `make test-outage` runs a 10-minute one with the production defaults.
"""

from __future__ import annotations

import asyncio
import signal

import nats
from nats.aio.msg import Msg

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.bus import codec, topology
from tests.dispatcher.support import approve, new_post, tenant_client
from tests.reliability.support import (
    Timeline,
    assert_charged_once,
    assert_one_video,
    assert_succeeded,
    bring_up,
    job_of,
    job_when,
    step_name,
    take_down,
)

# Longer than the old silent-drop window (1 + 2 + 2 + … ≈ 15-17 s for ten deliveries at these settings).
OUTAGE_S = 25.0
GRANT = 100


async def test_billing_down_while_a_post_is_approved_then_back_the_job_succeeds_charged_once(
    short_budget_stack,
) -> None:
    async with tenant_client(short_budget_stack, credits=GRANT) as (client, tenant):
        timeline = Timeline()
        await asyncio.to_thread(take_down, short_budget_stack, "billing")
        timeline.note("billing killed")
        post = new_post()
        await approve(client, tenant, post)
        job = await job_of(client, tenant, post)
        await asyncio.sleep(OUTAGE_S)

        waiting = await client.get_job(job.job_id)
        assert waiting.status == c.JOB_STATUS_RUNNING, f"{waiting.status} {waiting.error}"
        assert step_name(waiting) == "reserving"
        await bring_up(short_budget_stack, "billing")
        timeline.note("billing back")

        done = await assert_succeeded(client, job.job_id)
        timeline.note("job succeeded")
        await assert_charged_once(client, tenant, done, GRANT)
        await assert_one_video(client, done)


async def test_postgres_immediate_shutdown_with_a_job_in_flight_then_restart_the_job_succeeds(
    short_budget_stack,
) -> None:
    async with tenant_client(short_budget_stack, credits=GRANT) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await job_of(client, tenant, post)
        # In flight: credits reserved, the still frame or the provider running.
        job = await job_when(client, job.job_id, lambda j: step_name(j) != "reserving", "past reserving", 120)
        # SIGQUIT is PostgreSQL's immediate shutdown (`pg_ctl stop -m immediate`): no checkpoint, crash recovery
        # at the next start.
        timeline = Timeline()
        await asyncio.to_thread(take_down, short_budget_stack, "postgres", signal.SIGQUIT)
        timeline.note(f"postgres shut down (immediate) with the job at {step_name(job)}")
        await asyncio.sleep(OUTAGE_S)
        await bring_up(short_budget_stack, "postgres")
        timeline.note("postgres back")

        done = await assert_succeeded(client, job.job_id)
        timeline.note("job succeeded")
        await assert_charged_once(client, tenant, done, GRANT)
        await assert_one_video(client, done)


async def test_s3_store_killed_as_the_video_is_being_stored_then_back_the_job_succeeds(short_budget_stack) -> None:
    async with tenant_client(short_budget_stack, credits=GRANT) as (client, tenant):
        post = new_post()
        killed = asyncio.Event()

        async def on_ready(msg: Msg) -> None:
            event = codec.decode(msg.data, dict(msg.headers or {}), pipeline_pb2.VideoReady)
            if event.ref.social_post_id == post and not killed.is_set():
                # Right as media-store gets the event: its download and upload run into a dead store.
                take_down(short_budget_stack, "s3")
                killed.set()

        nc = await nats.connect(short_budget_stack.info["nats_url"])
        try:
            await nc.subscribe(topology.READY, cb=on_ready)
            await approve(client, tenant, post)
            job = await job_of(client, tenant, post)
            await asyncio.wait_for(killed.wait(), 240)
        finally:
            await nc.drain()
        timeline = Timeline()
        await asyncio.sleep(OUTAGE_S)
        await bring_up(short_budget_stack, "s3")
        timeline.note("s3 back")

        done = await assert_succeeded(client, job.job_id)
        timeline.note("job succeeded")
        await assert_charged_once(client, tenant, done, GRANT)
        await assert_one_video(client, done)
