"""Bad input is dead-lettered with its reason and the consumer keeps going; failures release credits and say why."""

from __future__ import annotations

import json

import nats
from google.protobuf import json_format

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, outbound_pb2, pipeline_pb2
from svd.ids import short_id
from svd_stack.client import StackClient, copy_approved
from tests.dispatcher.support import subject_messages


async def test_malformed_events_are_dead_lettered_and_image_formats_forwarded(stack) -> None:
    info = stack.info
    client = StackClient(info)
    tenant = f"t-{short_id(8)}"
    nc = await nats.connect(info["nats_url"])
    try:
        js = nc.jetstream()
        garbage_id = f"garbage-{short_id()}"
        await js.publish(
            "social.post.copy_approved",
            b'{"eventId": "x", "platform": "PLATFORM_MARS"',
            headers={"content-type": "application/json", "Nats-Msg-Id": garbage_id},
        )
        too_long = copy_approved(tenant, f"p-{short_id(6)}", f"evt-{short_id()}", duration_seconds=7)
        await js.publish(
            "social.post.copy_approved",
            json_format.MessageToJson(too_long).encode(),
            headers={"content-type": "application/json"},
        )
    finally:
        await nc.drain()
    static_post = f"p-{short_id(6)}"
    await client.publish_upstream(
        "social.post.copy_approved", copy_approved(tenant, static_post, f"evt-{short_id()}", platform_format="static")
    )
    try:
        letters = [
            pipeline_pb2.DeadLetter.FromString(m.data)
            for m in await subject_messages(info["nats_url"], "dlq.social.post.copy_approved", timeout_s=2.0)
        ]
        reasons = [letter.reason for letter in letters]
        assert any("invalid social_video.v1.CopyApproved JSON" in r for r in reasons), reasons
        assert any("duration_seconds must be 5 or 10, got 7" in r for r in reasons), reasons
        assert all(letter.consumer == "dispatcher-copy-approved" for letter in letters)

        forwarded = [
            json_format.Parse(m.data, outbound_pb2.DesignerRequested())
            for m in await subject_messages(info["nats_url"], "agent.social_post_designer.requested", timeout_s=2.0)
        ]
        ours = [f for f in forwarded if f.social_post_id == static_post]
        assert len(ours) == 1
        assert ours[0].copy_approved.platform_format == c.PLATFORM_FORMAT_STATIC
        jobs = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, social_post_id=static_post))
        assert not jobs.jobs
    finally:
        await client.close()


async def test_insufficient_credits_fails_the_job_without_a_paid_call(stack) -> None:
    info = stack.info
    client = StackClient(info)
    tenant, post = f"t-{short_id(8)}", f"p-{short_id(8)}"
    try:
        await client.grant(tenant, 3, f"grant-{tenant}")
        await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}"))
        job = await client.find_job(tenant, post)
        updates = [u async for u in client.watch(job.job_id)]
        job = await client.get_job(job.job_id)
        assert job.status == c.JOB_STATUS_FAILED
        assert job.error == "insufficient credits: need 15, available 3"
        assert updates[-1].label == job.error
        assert job.failed_phase == c.JOB_STEP_RESERVING
        assert job.post_status == c.POST_STATUS_DM_REVIEW
        assert job.deliverable_status == c.DELIVERABLE_STATUS_FAILED
        assert not job.provider_job_id
        balance = await client.balance(tenant)
        assert (balance.available, balance.held) == (3, 0)

        statuses = [
            json.loads(m.data)
            for m in await subject_messages(info["nats_url"], "social.post.status_changed", timeout_s=2.0)
        ]
        ours = [s for s in statuses if s.get("socialPostId") == post]
        assert ours and ours[-1]["postStatus"] == "POST_STATUS_DM_REVIEW"
        assert ours[-1]["reason"] == "insufficient credits: need 15, available 3"
    finally:
        await client.close()
