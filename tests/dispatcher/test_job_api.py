"""The `VideoJobs` API as dashboards use it: issued keys, tenant isolation, listing with filters and pages, the event
log with a window, and `WatchJob` seeing every step in order."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from social_video.v1 import billing_pb2, jobs_pb2, media_pb2
from social_video.v1 import common_pb2 as c
from svd_stack.client import CREDIT_TYPE, StackClient
from tests.dispatcher.support import approve, new_post, tenant_client, wait_job


def svd_keys(stack, *args: str) -> str:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "svd_stack", "keys", *args, "--home", str(stack.home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=stack.env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def issue_key(stack, *scope: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new key from `svd keys create`; returns (key id, key)."""
    out = svd_keys(stack, "create", *scope, "--name", "test")
    key = out.strip().splitlines()[-1]
    assert key.startswith("svd_")
    key_id = re.search(r"^key id: (\S+)$", out, re.MULTILINE)
    assert key_id, out
    return key_id.group(1), key


async def test_tenant_keys_see_only_their_tenant_and_revoked_keys_stop_working(stack) -> None:
    async with tenant_client(stack) as (admin, tenant_a), tenant_client(stack) as (_, tenant_b):
        post_a, post_b = new_post(), new_post()
        await approve(admin, tenant_a, post_a)
        await approve(admin, tenant_b, post_b)
        job_a = await wait_job(admin, (await admin.find_job(tenant_a, post_a)).job_id)
        job_b = await wait_job(admin, (await admin.find_job(tenant_b, post_b)).job_id)

        key_id, key = issue_key(stack, "--tenant", tenant_a)
        assert key not in svd_keys(stack, "list"), "a key must never be shown again"
        assert key_id in svd_keys(stack, "list", "--tenant", tenant_a)
        client_a = StackClient(stack.info, api_key=key)
        try:
            assert (await client_a.get_job(job_a.job_id)).job_id == job_a.job_id
            listed = await client_a.jobs.ListJobs(jobs_pb2.ListJobsRequest(limit=50))
            assert {j.tenant_id for j in listed.jobs} == {tenant_a}
            calls = [
                client_a.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_b.job_id)),
                client_a.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job_b.job_id)),
                client_a.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job_b.job_id)),
                client_a.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant_b)),
                client_a.media.GetMedia(media_pb2.GetMediaRequest(media_id=job_b.media_id)),
                client_a.billing.GetBalance(billing_pb2.GetBalanceRequest(tenant_id=tenant_b, credit_type=CREDIT_TYPE)),
            ]
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client_a.grant(tenant_a, 1000, "self-service")
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

            svd_keys(stack, "revoke", key_id)
            deadline = time.monotonic() + 15
            code = None
            while time.monotonic() < deadline:
                try:
                    await client_a.get_job(job_a.job_id)
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                    break
                await asyncio.sleep(0.5)
            assert code == grpc.StatusCode.UNAUTHENTICATED
        finally:
            await client_a.close()

        admin_key = issue_key(stack, "--admin")[1]
        client_admin = StackClient(stack.info, api_key=admin_key)
        try:
            assert (await client_admin.get_job(job_b.job_id)).tenant_id == tenant_b
        finally:
            await client_admin.close()


async def test_list_jobs_filters_and_pages(stack) -> None:
    async with tenant_client(stack, credits=0) as (client, tenant):
        posts = [new_post() for _ in range(5)]
        for post in posts:
            await approve(client, tenant, post)  # no credits: each job fails at once
        for post in posts:
            await wait_job(client, (await client.find_job(tenant, post)).job_id)
        seen: list[str] = []
        token = ""
        while True:
            page = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, limit=2, page_token=token))
            assert len(page.jobs) <= 2
            seen += [j.job_id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len(set(seen)) == 5
        failed = await client.jobs.ListJobs(
            jobs_pb2.ListJobsRequest(tenant_id=tenant, status=c.JOB_STATUS_FAILED, limit=50)
        )
        assert len(failed.jobs) == 5
        succeeded = await client.jobs.ListJobs(
            jobs_pb2.ListJobsRequest(tenant_id=tenant, status=c.JOB_STATUS_SUCCEEDED, limit=50)
        )
        assert not succeeded.jobs
        future = Timestamp()
        future.GetCurrentTime()
        later = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, start_time=future, limit=50))
        assert not later.jobs
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, page_token="not-a-token"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_sees_every_step_in_order_and_events_have_a_window(stack) -> None:
    async with tenant_client(stack) as (client, tenant):
        post = new_post()
        await approve(client, tenant, post)
        job = await client.find_job(tenant, post, timeout_s=30)
        updates = [u async for u in client.watch(job.job_id)]

        steps = [u.step for u in updates]
        percents = [u.percent for u in updates]
        assert steps == sorted(steps), steps
        assert percents == sorted(percents), percents
        assert updates[-1].terminal and updates[-1].percent == 100 and updates[-1].step == c.JOB_STEP_DONE
        assert not any(u.terminal for u in updates[:-1])
        # Each step the pipeline went through after the watch began shows up, in order.
        later = [s for s in (c.JOB_STEP_SUBMITTING, c.JOB_STEP_POLLING, c.JOB_STEP_STORING) if s >= steps[0]]
        assert [s for s in dict.fromkeys(steps) if s in later] == later
        assert all(u.label for u in updates)

        events = (await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job.job_id))).events
        assert events[0].message == "job created"
        assert all(e.level in ("info", "warn", "error") for e in events)
        times = [e.time.ToDatetime() for e in events]
        assert times == sorted(times)
        middle = events[len(events) // 2].time
        window = await client.jobs.GetJobEvents(
            jobs_pb2.GetJobEventsRequest(job_id=job.job_id, start_time=middle, limit=2)
        )
        assert 0 < len(window.events) <= 2
        assert all(e.time.ToDatetime() >= middle.ToDatetime() for e in window.events)


async def test_tenants_see_no_hold_id_and_every_job_shows_its_deadline(stack) -> None:
    """A hold id would let a tenant consume or release its own credits through billing: only admins see it."""
    async with tenant_client(stack) as (admin, tenant):
        post = new_post()
        await approve(admin, tenant, post)
        job = await admin.find_job(tenant, post, timeout_s=60)
        deadline = time.monotonic() + 120
        while not job.reservation_id:
            assert time.monotonic() < deadline, f"no hold after 120 s: {job}"
            await asyncio.sleep(0.2)
            job = await admin.get_job(job.job_id)
        assert job.HasField("deadline") and job.deadline.ToDatetime() > job.created_at.ToDatetime()

        tenant_view = StackClient(stack.info, api_key=issue_key(stack, "--tenant", tenant)[1])
        try:
            seen = await tenant_view.get_job(job.job_id)
            assert seen.job_id == job.job_id and seen.credits_reserved == job.credits_reserved
            assert seen.reservation_id == ""
            assert seen.deadline == job.deadline
            listed = await tenant_view.jobs.ListJobs(jobs_pb2.ListJobsRequest(social_post_id=post))
            assert [j.reservation_id for j in listed.jobs] == [""]
            watched = await anext(tenant_view.watch(job.job_id))
            assert watched.job.job_id == job.job_id and watched.job.reservation_id == ""
        finally:
            await tenant_view.close()
        listed = await admin.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, social_post_id=post))
        assert [j.reservation_id for j in listed.jobs] == [job.reservation_id]
        try:  # not needed any more (a fast pipeline may have finished it already)
            await admin.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="test done"))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc


async def test_negative_and_huge_limits_are_clamped(stack) -> None:
    async with tenant_client(stack, credits=0) as (client, tenant):
        posts = [new_post() for _ in range(3)]
        for post in posts:
            await approve(client, tenant, post)  # no credits: each job fails at once
        jobs = [await wait_job(client, (await client.find_job(tenant, post)).job_id) for post in posts]
        for limit in (-1, -(2**31), 2**31 - 1):
            listed = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, limit=limit))
            assert {j.job_id for j in listed.jobs} == {j.job_id for j in jobs}, limit
            assert not listed.next_page_token
            events = await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=jobs[0].job_id, limit=limit))
            assert events.events and events.events[0].message == "job created", limit
