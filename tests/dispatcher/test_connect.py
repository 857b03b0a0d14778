"""Connect beside gRPC, on the real wire (HTTP/1.1, JSON, a bearer key): `GetJob`, `ListJobs` and a live `WatchJob`
answer the same job as gRPC, media-store and billing answer too (billing's money-moving calls stay on gRPC), a tenant
key gets NOT_FOUND for another tenant's job and a bogus or missing key UNAUTHENTICATED; the client's approval by
`Posts.ReviewVideo` closes the post as the router's event does (the rejection is the console test's)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from social_video.v1 import billing_pb2, jobs_pb2, media_pb2, posts_pb2
from social_video.v1 import common_pb2 as c
from svd_stack.client import CREDIT_TYPE
from tests.dispatcher.connect_wire import ConnectFailure, server_stream, unary
from tests.dispatcher.support import approve, new_post, tenant_client
from tests.dispatcher.test_job_api import issue_key

JOBS = "social_video.v1.VideoJobs"
REVIEW = "social_video.v1.Posts/ReviewVideo"


async def test_connect_answers_the_same_job_as_grpc(stack) -> None:
    async with tenant_client(stack) as (admin, tenant), tenant_client(stack) as (_, other):
        post = new_post()
        await approve(admin, tenant, post)
        job = await admin.find_job(tenant, post)
        _, key = issue_key(stack, "--tenant", tenant)
        _, other_key = issue_key(stack, "--tenant", other)
        http_of = stack.info["http"]
        async with httpx.AsyncClient(base_url=f"http://{http_of['dispatcher']}", timeout=120) as http:
            updates = [
                update
                async for update in server_stream(
                    http, key, f"{JOBS}/WatchJob", {"jobId": job.job_id}, jobs_pb2.WatchJobResponse
                )
            ]
            assert len(updates) > 1, "a running job streams its progress"
            assert [u.percent for u in updates] == sorted(u.percent for u in updates)
            assert updates[-1].terminal and updates[-1].job.status == c.JOB_STATUS_SUCCEEDED

            by_grpc = await admin.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job.job_id))
            by_connect = await unary(http, key, f"{JOBS}/GetJob", {"jobId": job.job_id}, jobs_pb2.GetJobResponse)
            assert by_connect.job.job_id == job.job_id
            assert by_connect.job.reservation_id == "", "a tenant key never sees the billing hold"
            by_connect.job.reservation_id = by_grpc.job.reservation_id
            assert by_connect == by_grpc
            assert updates[-1].job.status == by_grpc.job.status
            assert updates[-1].job.object_key == by_grpc.job.object_key

            listed = await unary(http, key, f"{JOBS}/ListJobs", {"socialPostId": post}, jobs_pb2.ListJobsResponse)
            assert [j.job_id for j in listed.jobs] == [job.job_id]
            assert listed.jobs[0].post_status == c.POST_STATUS_CLIENT_REVIEW, "a listed job says where its post is"
            assert {
                j.tenant_id for j in (await unary(http, key, f"{JOBS}/ListJobs", {}, jobs_pb2.ListJobsResponse)).jobs
            } == {tenant}

            still = await unary(http, key, f"{JOBS}/GetStillUrl", {"jobId": job.job_id}, jobs_pb2.GetStillUrlResponse)
            assert (await http.get(still.url)).content[:8] == b"\x89PNG\r\n\x1a\n", "the still frame, signed"

            with pytest.raises(ConnectFailure) as caught:
                await unary(http, other_key, f"{JOBS}/GetJob", {"jobId": job.job_id}, jobs_pb2.GetJobResponse)
            assert (caught.value.status, caught.value.code) == (404, "not_found")
            with pytest.raises(ConnectFailure) as caught:
                await unary(http, other_key, f"{JOBS}/GetStillUrl", {"jobId": job.job_id}, jobs_pb2.GetStillUrlResponse)
            assert caught.value.code == "not_found"
            with pytest.raises(ConnectFailure) as caught:
                async for _ in server_stream(
                    http, other_key, f"{JOBS}/WatchJob", {"jobId": job.job_id}, jobs_pb2.WatchJobResponse
                ):
                    pass
            assert caught.value.code == "not_found"
            for bogus in ("svd_not-a-key", None):
                with pytest.raises(ConnectFailure) as caught:
                    await unary(http, bogus, f"{JOBS}/GetJob", {"jobId": job.job_id}, jobs_pb2.GetJobResponse)
                assert (caught.value.status, caught.value.code) == (401, "unauthenticated")

        async with httpx.AsyncClient(base_url=f"http://{http_of['media_store']}", timeout=30) as http:
            # Read between two gRPC reads: the record may still be settling just after the job (its poster).
            media_request = media_pb2.GetMediaRequest(media_id=by_grpc.job.media_id)
            before = (await admin.media.GetMedia(media_request)).media
            media = await unary(
                http,
                key,
                "social_video.v1.Media/GetMedia",
                {"mediaId": media_request.media_id},
                media_pb2.GetMediaResponse,
            )
            after = (await admin.media.GetMedia(media_request)).media
            assert media.media in (before, after)

        async with httpx.AsyncClient(base_url=f"http://{http_of['billing']}", timeout=30) as http:
            balance = await unary(
                http,
                key,
                "social_video.v1.Billing/GetBalance",
                {"tenantId": tenant, "creditType": CREDIT_TYPE},
                billing_pb2.GetBalanceResponse,
            )
            assert balance.balance == await admin.balance(tenant)
            with pytest.raises(ConnectFailure) as caught:
                await unary(
                    http,
                    key,
                    "social_video.v1.Billing/Grant",
                    {"tenantId": tenant, "creditType": CREDIT_TYPE, "amount": "5", "idempotencyKey": "x"},
                    billing_pb2.GrantResponse,
                )
            assert caught.value.code == "unimplemented"

        async with httpx.AsyncClient(base_url=f"http://{http_of['dispatcher']}", timeout=30) as http:
            review = {"jobId": job.job_id, "reviewer": "REVIEWER_CLIENT", "reviewedBy": "client@brand.example"}
            refusals = [
                (key, {**review, "decision": "REVIEW_DECISION_REJECT"}, "invalid_argument"),  # no feedback
                (other_key, {**review, "decision": "REVIEW_DECISION_APPROVE"}, "not_found"),
            ]
            for caller, body, code in refusals:
                with pytest.raises(ConnectFailure) as caught:
                    await unary(http, caller, REVIEW, body, posts_pb2.ReviewVideoResponse)
                assert caught.value.code == code, caught.value
            approve_it = {**review, "decision": "REVIEW_DECISION_APPROVE"}
            approved = await unary(http, key, REVIEW, approve_it, posts_pb2.ReviewVideoResponse)
            assert approved.subject == "social.post.client_approved"
            for _ in range(100):
                if (await admin.get_job(job.job_id)).post_status == c.POST_STATUS_APPROVED:
                    break
                await asyncio.sleep(0.2)
            assert (await admin.get_job(job.job_id)).post_status == c.POST_STATUS_APPROVED
            with pytest.raises(ConnectFailure) as caught:
                await unary(http, key, REVIEW, approve_it, posts_pb2.ReviewVideoResponse)
            assert caught.value.code == "failed_precondition", "an approved post has nothing left to review"
