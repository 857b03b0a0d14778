"""What the outage and chaos tests share: taking a part of the stack down (by its pid) and back up, waiting for jobs
while parts are down (every call may fail then), and the end-state checks: the job succeeded, it was charged once,
nothing is held, its post has exactly one video.

Waiting is always polling with a generous timeout: on a busy two-core machine a step may take many seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import psutil

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2, media_pb2
from svd_stack.client import StackClient
from tests.dispatcher.support import TERMINAL, events_of, ledger

T = TypeVar("T")

# Runway 5 s: what a default approval reserves and, the simulator being Runway, what its video costs.
RUNWAY_5S = 15
# Start-ups, restarts and whole jobs on a busy machine: generous, never a measure of speed.
JOB_TIMEOUT_S = 240.0


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, every_s: float = 0.25) -> T:
    """The first truthy result of `probe`, polled; a gRPC error (a part is down or restarting) counts as not yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: str = "no answer yet"
    while True:
        try:
            result = await probe()
            if result:
                return result
            last = repr(result)
        except grpc.aio.AioRpcError as exc:
            last = f"{exc.code().name}: {exc.details()}"
        if loop.time() > deadline:
            raise TimeoutError(f"{what}: not after {timeout_s:.0f} s (last: {last})")
        await asyncio.sleep(every_s)


async def job_when(
    client: StackClient, job_id: str, condition: Callable[[jobs_pb2.Job], bool], what: str, timeout_s: float
) -> jobs_pb2.Job:
    async def probe() -> jobs_pb2.Job | None:
        job = await client.get_job(job_id)
        return job if condition(job) else None

    return await eventually(probe, timeout_s, f"job {job_id} {what}")


async def finished(client: StackClient, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> jobs_pb2.Job:
    """The job once terminal, polled through outages."""
    return await job_when(client, job_id, lambda job: job.status in TERMINAL, "to end", timeout_s)


async def job_of(client: StackClient, tenant: str, post: str = "", timeout_s: float = 120.0) -> jobs_pb2.Job:
    """The latest job of the post (without a post: of the tenant), once there is one."""

    async def probe() -> jobs_pb2.Job | None:
        response = await client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, social_post_id=post, limit=1))
        return response.jobs[0] if response.jobs else None

    return await eventually(probe, timeout_s, f"a job for tenant {tenant} post {post or '(any)'}")


def step_name(job: jobs_pb2.Job) -> str:
    return c.JobStep.Name(job.step).removeprefix("JOB_STEP_").lower()


def status_name(job: jobs_pb2.Job) -> str:
    return c.JobStatus.Name(job.status).removeprefix("JOB_STATUS_").lower()


# --- parts of the stack down and up -----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (a postmaster's backends), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def take_down(stack: Any, component: str, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal `component` by its pid and wait until it and its children are gone (a killed postmaster's backends
    exit on their own shortly after; the server cannot start again while they hold its shared memory)."""
    children = _children(stack.pid(component))
    stack.kill(component, sig, timeout=60.0)
    deadline = time.monotonic() + 60.0
    while any(_alive(child) for child in children):
        if time.monotonic() > deadline:
            raise AssertionError(f"children of {component} still running 60 s after {sig.name}: {children}")
        time.sleep(0.1)


async def bring_up(stack: Any, component: str, attempts: int = 3) -> None:
    """`svd up --only component`, off the event loop; tried again as an operator would if it fails (on this shared
    machine another process can take a port of the component while it is down; the next `up` picks a new one)."""
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(stack.up, component)
            return
        except AssertionError as exc:
            if attempt == attempts:
                raise
            print(f"svd up --only {component} failed (attempt {attempt}), trying again: {str(exc)[-300:]}", flush=True)
            await asyncio.sleep(2)


async def reconnected(stack: Any, client: str, server: str, timeout_s: float = 180.0) -> float:
    """Seconds until `client` (a service) holds a TCP connection to `server`'s gRPC port again: after an outage a
    gRPC channel waits out its reconnect backoff (up to two minutes) before it tries the server again."""
    port = int(stack.info["grpc"][server].rsplit(":", 1)[1])
    started = time.monotonic()

    async def probe() -> bool:
        connections = psutil.Process(stack.pid(client)).net_connections(kind="tcp")
        return any(c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port for c in connections)

    await eventually(probe, timeout_s, f"{client} connected to {server}")
    return time.monotonic() - started


async def outage(stack: Any, component: str, down_s: float, sig: signal.Signals = signal.SIGKILL) -> None:
    """`component` killed, left down for `down_s` seconds, started again."""
    await asyncio.to_thread(take_down, stack, component, sig)
    await asyncio.sleep(down_s)
    await bring_up(stack, component)


@asynccontextmanager
async def restarted_with(stack: Any, component: str, **env: str) -> AsyncIterator[None]:
    """`component` restarted with `env` on top of the stack's environment, and restarted with the stack's own after:
    one service of the shared stack with other settings (say, a short job deadline) without a stack of its own."""
    saved = dict(stack.env)

    async def restart() -> None:
        await asyncio.to_thread(take_down, stack, component, signal.SIGTERM)
        await bring_up(stack, component)

    stack.env.update(env)
    try:
        await restart()
        yield
    finally:
        stack.env.clear()
        stack.env.update(saved)
        await restart()


# --- end-state checks -------------------------------------------------------------------------------------------


async def consumed_for(client: StackClient, tenant: str) -> dict[str, list[int]]:
    """Per job: the amounts of its consume entries in the tenant's ledger."""
    found: dict[str, list[int]] = {}
    for entry in await ledger(client, tenant):
        if entry.kind == "consume":
            found.setdefault(entry.job_id, []).append(abs(entry.amount))
    return found


async def assert_charged_once(client: StackClient, tenant: str, job: jobs_pb2.Job, granted: int) -> None:
    """One consume for the job, of the job's price; the balance is the grant minus it; nothing held."""
    consumes = (await consumed_for(client, tenant)).get(job.job_id, [])
    assert consumes == [RUNWAY_5S], f"job {job.job_id} consumed {consumes}, expected one consume of {RUNWAY_5S}"
    assert job.credits_consumed == RUNWAY_5S
    balance = await client.balance(tenant)
    assert (balance.balance, balance.held) == (granted - RUNWAY_5S, 0), balance


async def videos_of(client: StackClient, tenant: str, post: str) -> list[media_pb2.MediaRecord]:
    """Every video record of the post, unlinked ones included (a second stored copy would show here)."""
    response = await client.media.ListMedia(
        media_pb2.ListMediaRequest(tenant_id=tenant, social_post_id=post, include_unlinked=True, limit=500)
    )
    return [m for m in response.media if m.media_type == "social_video"]


async def assert_one_video(client: StackClient, job: jobs_pb2.Job) -> None:
    videos = await videos_of(client, job.tenant_id, job.social_post_id)
    assert [v.media_id for v in videos] == [job.media_id], (
        f"post {job.social_post_id}: videos {[(v.media_id, v.social_post_id) for v in videos]}, "
        f"expected only {job.media_id}"
    )
    assert videos[0].social_post_id == job.social_post_id  # linked


async def assert_succeeded(client: StackClient, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> jobs_pb2.Job:
    job = await finished(client, job_id, timeout_s)
    await print_job_log(client, job_id)
    assert job.status == c.JOB_STATUS_SUCCEEDED, f"job {job_id} {status_name(job)} at {step_name(job)}: {job.error}"
    assert job.post_status == c.POST_STATUS_CLIENT_REVIEW
    return job


@dataclass
class Timeline:
    """When each part went down and came back (seconds since the start), printed with `-s`."""

    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def note(self, what: str) -> float:
        at = time.monotonic() - self.started
        self.entries.append((at, what))
        print(f"[{at:7.1f} s] {what}", flush=True)
        return at


async def print_job_log(client: StackClient, job_id: str) -> None:
    """The job's event log with times relative to its creation (shown with `-s`: where an outage cost time)."""
    events = await events_of(client, job_id)
    if not events:
        return
    start = events[0].time.ToDatetime()
    for event in events:
        at = (event.time.ToDatetime() - start).total_seconds()
        print(f"    {job_id[:8]} +{at:6.1f} s  {event.message}", flush=True)
