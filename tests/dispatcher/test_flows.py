"""Every flow of the seed on the real stack: approval to client review to approved, idempotency on event ids, the
rejection re-run with the reviewer's feedback, image formats to the image designer, options validated."""

from __future__ import annotations

import asyncio

import nats
import pytest
from google.protobuf import json_format

from social_video.v1 import common_pb2 as c
from social_video.v1 import media_pb2, outbound_pb2, pipeline_pb2, upstream_pb2
from svd_stack.client import copy_approved
from tests.dispatcher.support import (
    approve,
    events_of,
    jobs_of,
    ledger,
    new_event,
    new_post,
    rejection,
    status_changes,
    subject_messages,
    tenant_client,
    wait_job,
    wait_runs,
)


async def test_approval_to_client_review_to_approved(stack) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id)
        assert job.status == c.JOB_STATUS_SUCCEEDED
        assert job.post_status == c.POST_STATUS_CLIENT_REVIEW
        assert job.deliverable_status == c.DELIVERABLE_STATUS_NEEDS_APPROVAL

        await client.publish_upstream(
            "social.post.client_approved",
            upstream_pb2.ClientApproved(event_id=new_event(), tenant_id=tenant, social_post_id=post, approved_by="c"),
        )
        for _ in range(100):
            job = await client.get_job(job.job_id)
            if job.post_status == c.POST_STATUS_APPROVED:
                break
            await asyncio.sleep(0.1)
        assert job.post_status == c.POST_STATUS_APPROVED
        assert job.deliverable_status == c.DELIVERABLE_STATUS_APPROVED

        changes = await status_changes(stack.info["nats_url"], tenant, post)
        assert [e.post_status for e in changes] == [
            c.POST_STATUS_DESIGN_PENDING,
            c.POST_STATUS_GENERATING_VIDEO,
            c.POST_STATUS_CLIENT_REVIEW,
            c.POST_STATUS_APPROVED,
        ]
        notes = [
            json_format.Parse(m.data, outbound_pb2.ClientNotification())
            for m in await subject_messages(stack.info["nats_url"], "notify.client", timeout_s=1.0)
        ]
        ours = [n for n in notes if n.job_id == job.job_id]
        assert len(ours) == 1 and ours[0].kind == "video_ready" and ours[0].media_id == job.media_id


async def test_redelivered_and_repeated_approvals_start_one_job(stack) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        event_id = new_event()
        payload = json_format.MessageToJson(copy_approved(tenant, post, event_id)).encode()
        nc = await nats.connect(stack.info["nats_url"])
        try:
            js = nc.jetstream()
            # The same event twice with different message ids: JetStream cannot deduplicate, the dispatcher must.
            for attempt in range(2):
                await js.publish(
                    "social.post.copy_approved",
                    payload,
                    headers={"content-type": "application/json", "Nats-Msg-Id": f"{event_id}-{attempt}"},
                )
        finally:
            await nc.drain()
        await approve(client, tenant, post)  # a second approval while the first job is in flight
        job = await wait_job(client, (await client.find_job(tenant, post)).job_id)
        await asyncio.sleep(1.0)  # give a wrongly started second job time to show up
        assert [j.job_id for j in await jobs_of(client, tenant, post)] == [job.job_id]
        assert job.status == c.JOB_STATUS_SUCCEEDED
        messages = [e.message for e in await events_of(client, job.job_id)]
        assert "event ignored: a job for this post is in flight" in messages
        assert sum(1 for m in messages if m.startswith("reserved ")) == 1
        holds = [e for e in await ledger(client, tenant) if e.kind == "hold"]
        assert len(holds) == 1


@pytest.mark.parametrize("kind", ["design", "client"])
async def test_rejection_reruns_with_feedback_and_keeps_the_old_media(stack, kind: str) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        first = await wait_job(client, (await client.find_job(tenant, post)).job_id)
        assert first.status == c.JOB_STATUS_SUCCEEDED
        feedback = "Slower camera, warmer light on the beans"
        await client.publish_upstream(f"social.post.{kind}_rejected", rejection(kind, tenant, post, feedback))
        runs = await wait_runs(client, tenant, post, 2)
        second = await wait_job(client, runs[1].job_id)

        assert second.status == c.JOB_STATUS_SUCCEEDED, second.error
        assert second.run == 2
        expected_reason = c.WAKE_REASON_DESIGN_REJECTED if kind == "design" else c.WAKE_REASON_CLIENT_REJECTED
        assert second.wake_reason == expected_reason
        assert second.post_status == c.POST_STATUS_CLIENT_REVIEW
        assert second.media_id and second.media_id != first.media_id

        # The feedback reached the design request (image prompt) and the motion prompt.
        designs = [
            pipeline_pb2.DesignRequested.FromString(m.data)
            for m in await subject_messages(stack.info["nats_url"], "video.design.requested", timeout_s=1.0)
        ]
        design = next(d for d in designs if d.ref.job_id == second.job_id)
        assert design.spec.reviewer_feedback == feedback
        assert design.spec.wake_reason == expected_reason
        submitted = next(e for e in await events_of(client, second.job_id) if e.message.startswith("submitted to"))
        assert feedback.lower() in submitted.metadata["motion_prompt"].lower()

        # The old media is unlinked from the post but kept; the new one is linked.
        linked = await client.media.ListMedia(media_pb2.ListMediaRequest(tenant_id=tenant, social_post_id=post))
        assert second.media_id in {m.media_id for m in linked.media}
        assert first.media_id not in {m.media_id for m in linked.media}
        old = (await client.media.GetMedia(media_pb2.GetMediaRequest(media_id=first.media_id))).media
        assert old.social_post_id == ""
        assert client.s3().head_object(Bucket=stack.info["s3_bucket"], Key=old.object_key)["ContentLength"] > 0

        # Credits were reserved again and consumed for each run.
        entries = await ledger(client, tenant)
        assert [e.kind for e in entries if e.kind in ("hold", "consume")] == ["hold", "consume", "hold", "consume"]
        assert (await client.balance(tenant)).balance == 100 - first.credits_consumed - second.credits_consumed


async def test_rejection_of_an_image_post_goes_to_the_image_designer(stack) -> None:
    async with tenant_client(stack, credits=0, brand=False) as (client, tenant):
        post = new_post()
        await client.publish_upstream(
            "social.post.copy_approved", copy_approved(tenant, post, new_event(), platform_format="carousel")
        )
        event = rejection("client", tenant, post, "More contrast")
        await client.publish_upstream("social.post.client_rejected", event)
        await asyncio.sleep(1.0)
        forwarded = [
            json_format.Parse(m.data, outbound_pb2.DesignerRequested())
            for m in await subject_messages(stack.info["nats_url"], "agent.social_post_designer.requested")
        ]
        ours = [f for f in forwarded if f.social_post_id == post]
        assert [f.WhichOneof("trigger") for f in ours] == ["copy_approved", "client_rejected"]
        assert ours[1].client_rejected.reviewer_feedback == "More contrast"
        assert await jobs_of(client, tenant, post) == []


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"platform_format": "story", "duration_seconds": 10}, "stories are at most 5 seconds, got 10"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio 1:1 is only allowed for facebook reels"),
        ({"aspect_ratio": "4:5", "platform": "facebook"}, "aspect_ratio must be 9:16 or 1:1, got '4:5'"),
        ({"social_post_id": ""}, "social_post_id is required"),
        ({"headline": "x" * 301}, "copy.headline is longer than 300 characters"),
    ],
)
async def test_invalid_options_are_dead_lettered_with_their_reason(stack, options: dict, reason: str) -> None:
    async with tenant_client(stack, credits=0, brand=False) as (client, tenant):
        post = options.pop("social_post_id", new_post())
        event = copy_approved(
            tenant,
            post,
            new_event(),
            **{k: v for k, v in options.items() if k in ("platform_format", "duration_seconds", "platform")},
        )
        if "aspect_ratio" in options:
            event.aspect_ratio = options["aspect_ratio"]
        if "headline" in options:
            event.copy.headline = options["headline"]
        await client.publish_upstream("social.post.copy_approved", event)
        for _ in range(50):
            letters = [
                pipeline_pb2.DeadLetter.FromString(m.data)
                for m in await subject_messages(stack.info["nats_url"], "dlq.social.post.copy_approved", 0.5)
            ]
            mine = [d for d in letters if event.event_id.encode() in d.payload]
            if mine:
                break
        assert mine and all(reason in d.reason for d in mine), [d.reason for d in mine]
        assert await jobs_of(client, tenant, post or "none") == []
