"""What the dispatcher's end-to-end tests share: a funded tenant, upstream events, reading subjects, the simulator's
control plane, and waiting for a job to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
from google.protobuf import json_format
from google.protobuf.message import Message

from social_video.v1 import billing_pb2, jobs_pb2, outbound_pb2, upstream_pb2
from social_video.v1 import common_pb2 as c
from svd.ids import short_id
from svd_stack.checks import plain_http
from svd_stack.client import CREDIT_TYPE, StackClient, copy_approved

TERMINAL = {c.JOB_STATUS_SUCCEEDED, c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED}


@asynccontextmanager
async def tenant_client(stack: Any, credits: int = 100, brand: bool = True) -> AsyncIterator[tuple[StackClient, str]]:
    """An admin client and a fresh tenant with `credits` granted (and a brand)."""
    client = StackClient(stack.info)
    tenant = f"t-{short_id(8)}"
    try:
        if brand:
            await client.put_brand(tenant)
        if credits:
            await client.grant(tenant, credits, f"grant-{tenant}")
        yield client, tenant
    finally:
        await client.close()


def new_post() -> str:
    return f"p-{short_id(8)}"


def new_event() -> str:
    return f"evt-{short_id()}"


def rejection(kind: str, tenant: str, post: str, feedback: str, event_id: str | None = None) -> Message:
    message_type = upstream_pb2.DesignRejected if kind == "design" else upstream_pb2.ClientRejected
    return message_type(
        event_id=event_id or new_event(),
        tenant_id=tenant,
        social_post_id=post,
        reviewer_feedback=feedback,
        rejected_by=f"{kind}-reviewer@example.com",
    )


async def approve(client: StackClient, tenant: str, post: str, **options: Any) -> str:
    event_id = options.pop("event_id", None) or new_event()
    await client.publish_upstream("social.post.copy_approved", copy_approved(tenant, post, event_id, **options))
    return event_id


async def wait_job(client: StackClient, job_id: str, timeout_s: float = 120.0) -> jobs_pb2.Job:
    """The job once it reached a terminal state."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        job = await client.get_job(job_id)
        if job.status in TERMINAL:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"job {job_id} still {job.status} at step {job.step} after {timeout_s} s")
        await asyncio.sleep(0.2)


async def jobs_of(client: StackClient, tenant: str, post: str) -> list[jobs_pb2.Job]:
    response = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, social_post_id=post, limit=50))
    return sorted(response.jobs, key=lambda job: job.run)


async def wait_runs(client: StackClient, tenant: str, post: str, runs: int, timeout_s: float = 30.0) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await jobs_of(client, tenant, post)
        if len(found) >= runs:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(found)} of {runs} jobs for post {post} after {timeout_s} s")
        await asyncio.sleep(0.2)


async def ledger(client: StackClient, tenant: str) -> list[billing_pb2.LedgerEntry]:
    response = await client.billing.ListLedger(
        billing_pb2.ListLedgerRequest(tenant_id=tenant, credit_type=CREDIT_TYPE, limit=500)
    )
    return list(response.entries)


async def events_of(client: StackClient, job_id: str) -> list[jobs_pb2.JobEvent]:
    return list((await client.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job_id, limit=1000))).events)


async def subject_messages(nats_url: str, subject: str, timeout_s: float = 3.0) -> list[nats.aio.msg.Msg]:
    """Every message stored on `subject` so far (an ordered consumer reads until the subject is drained)."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        found = []
        while True:
            try:
                found.append(await sub.next_msg(timeout=timeout_s))
            except TimeoutError:
                return found
    finally:
        await nc.drain()


async def status_changes(nats_url: str, tenant: str, post: str) -> list[outbound_pb2.PostStatusChanged]:
    changes = [
        json_format.Parse(m.data, outbound_pb2.PostStatusChanged())
        for m in await subject_messages(nats_url, "social.post.status_changed", timeout_s=1.0)
    ]
    return [e for e in changes if e.tenant_id == tenant and e.social_post_id == post]


class Simulator:
    """The provider simulator's control plane: faults, tasks, the request journal."""

    def __init__(self, stack: Any) -> None:
        self.url = stack.info["provider_sim_url"]

    def fault(self, **fault: Any) -> None:
        plain_http().post(f"{self.url}/_sim/faults", json=fault, timeout=10).raise_for_status()

    def clear(self) -> None:
        plain_http().delete(f"{self.url}/_sim/faults", timeout=10).raise_for_status()

    def task(self, task_id: str) -> dict[str, Any]:
        tasks = plain_http().get(f"{self.url}/_sim/tasks", timeout=10).json()
        items = tasks["tasks"] if isinstance(tasks, dict) else tasks
        return next(t for t in items if t.get("id") == task_id or t.get("task_id") == task_id)

    def requests(self, **query: str) -> list[dict[str, Any]]:
        response = plain_http().get(f"{self.url}/_sim/requests", params=query, timeout=10).json()
        return list(response["requests"] if isinstance(response, dict) else response)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
