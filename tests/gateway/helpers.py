"""Helpers for the video-gateway end-to-end suites: the simulator's control plane, the gateway's tables, jobs.

Everything here talks to real processes of a running stack: the simulator over HTTP (`/_sim/faults`, `/_sim/keys`,
`/_sim/requests`, `/_sim/tasks`), PostgreSQL with psycopg, the services over gRPC and NATS.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import psycopg

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd.ids import short_id
from svd_stack.checks import plain_http
from svd_stack.client import StackClient, copy_approved

TERMINAL = (c.JOB_STATUS_SUCCEEDED, c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED)


class Sim:
    """The provider simulator's control plane."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.url = info["provider_sim_url"]

    def faults(self, **config: Any) -> dict[str, Any]:
        response = plain_http().post(f"{self.url}/_sim/faults", json=config, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def clear_faults(self) -> None:
        plain_http().delete(f"{self.url}/_sim/faults", timeout=10).raise_for_status()

    def keys(self, provider: str, **change: list[str]) -> dict[str, Any]:
        response = plain_http().post(f"{self.url}/_sim/keys", json={"provider": provider, **change}, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        response = plain_http().get(f"{self.url}/_sim/requests", params=filters, timeout=30)
        response.raise_for_status()
        return list(response.json()["requests"])

    def tasks(self, **filters: str) -> list[dict[str, Any]]:
        response = plain_http().get(f"{self.url}/_sim/tasks", params=filters, timeout=30)
        response.raise_for_status()
        return list(response.json()["tasks"])

    def task(self, task_id: str) -> dict[str, Any]:
        return next(t for t in self.tasks() if t["id"] == task_id)


def db(info: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(info["database_url"].replace("+psycopg", ""), autocommit=True)


def submission(info: dict[str, Any], job_id: str) -> dict[str, Any]:
    with db(info) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("select * from video_gateway.submissions where job_id = %s order by run desc limit 1", (job_id,))
        row = cur.fetchone()
    assert row is not None, f"no submission for job {job_id}"
    return dict(row)


def keys(info: dict[str, Any], provider: str) -> dict[str, dict[str, Any]]:
    """The gateway's key pool rows of `provider`, by label (…last4)."""
    with db(info) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("select * from video_gateway.provider_keys where provider = %s", (provider,))
        return {row["label"]: dict(row) for row in cur.fetchall()}


def usage(info: dict[str, Any], key_id: int) -> list[dict[str, Any]]:
    with db(info) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("select * from video_gateway.key_usage where key_id = %s order by at", (key_id,))
        return [dict(row) for row in cur.fetchall()]


async def new_tenant(client: StackClient, credits: int = 100) -> str:
    tenant = f"t-{short_id(8)}"
    await client.put_brand(tenant)
    await client.grant(tenant, credits, f"grant-{tenant}")
    return tenant


async def start_job(client: StackClient, tenant: str, **options: Any) -> jobs_pb2.Job:
    post = f"p-{short_id(8)}"
    await client.publish_upstream(
        "social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}", **options)
    )
    return await client.find_job(tenant, post)


async def wait_for(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Call `predicate()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


async def wait_terminal(client: StackClient, job_id: str, timeout_s: float = 90.0) -> jobs_pb2.Job:
    async def done() -> jobs_pb2.Job | None:
        job = await client.get_job(job_id)
        return job if job.status in TERMINAL else None

    job: jobs_pb2.Job = await wait_for(done, timeout_s, f"job {job_id} to end")
    return job


async def wait_submitted(client: StackClient, job_id: str, timeout_s: float = 60.0) -> jobs_pb2.Job:
    async def submitted() -> jobs_pb2.Job | None:
        job = await client.get_job(job_id)
        assert job.status not in TERMINAL or job.provider_job_id, f"job ended before submit: {job.error}"
        return job if job.provider_job_id else None

    job: jobs_pb2.Job = await wait_for(submitted, timeout_s, f"job {job_id} to be submitted")
    return job


async def failed_task(client: StackClient, info: dict[str, Any], sim: Sim, provider: str) -> jobs_pb2.Job:
    """Run a job whose provider task ends FAILED (a moderation refusal) and check that it fails with its run ended
    `failed` and the credits back; returns the job, whose error the caller checks for the provider's reason."""
    tenant = await new_tenant(client)
    sim.faults(provider=provider, task_outcome="FAILED", failure_code="SAFETY.OUTPUT.VIDEO")
    job = await wait_terminal(client, (await start_job(client, tenant)).job_id, timeout_s=90)
    assert job.status == c.JOB_STATUS_FAILED, job
    assert submission(info, job.job_id)["state"] == "failed"
    balance = await client.balance(tenant)
    assert (balance.available, balance.held) == (100, 0)
    return job


async def cancel_mid_poll(
    client: StackClient, info: dict[str, Any], sim: Sim, provider: str, interval_s: float
) -> None:
    """Start a job whose provider task never finishes, cancel it through `CancelJob` after its first check, and check
    that the provider task is cancelled, the run ends `cancelled`, no check follows and the credits come back."""
    tenant = await new_tenant(client)
    sim.faults(provider=provider, never_finish=True)
    job = await wait_submitted(client, (await start_job(client, tenant)).job_id)
    task_id = job.provider_job_id
    await wait_for(lambda: sim.requests(provider=provider, op="status", task_id=task_id), 30, "the first check")
    await client.jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.job_id, reason="client changed mind"))

    await wait_for(lambda: sim.task(task_id)["status"] == "CANCELLED", 20, "the provider task to be cancelled")
    assert submission(info, job.job_id)["state"] == "cancelled"
    cancelled_at = sim.requests(provider=provider, op="cancel", task_id=task_id)[0]["time"]
    # The poll message comes back at its next tick, finds the run cancelled and is acknowledged: no more checks.
    await asyncio.sleep(interval_s * 2 + 1)
    checks = sim.requests(provider=provider, op="status", task_id=task_id)
    assert all(r["time"] <= cancelled_at + 0.5 for r in checks), (cancelled_at, checks)
    assert (await client.get_job(job.job_id)).status == c.JOB_STATUS_CANCELLED
    balance = await client.balance(tenant)
    assert (balance.available, balance.held) == (100, 0)


async def pipeline_messages(info: dict[str, Any], subject: str, message_type: type[Any]) -> list[Any]:
    """Every message stored on `subject` in stream VIDEO, decoded (reads with an ephemeral ordered consumer)."""
    nc = await nats.connect(info["nats_url"])
    found: list[Any] = []
    try:
        js = nc.jetstream()
        info_ = await js.stream_info("VIDEO", subjects_filter=subject)
        total = (info_.state.subjects or {}).get(subject, 0)
        if not total:
            return found
        sub = await js.subscribe(subject, ordered_consumer=True, stream="VIDEO")
        try:
            while len(found) < total:
                msg = await sub.next_msg(timeout=10)
                found.append(message_type.FromString(msg.data))
        finally:
            await sub.unsubscribe()
    finally:
        await nc.drain()
    return found
