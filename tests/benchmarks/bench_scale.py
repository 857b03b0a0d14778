"""Benchmark: end-to-end jobs/s and job latency on a 3-node NATS cluster with 1 and with 2 replicas of every service,
and the time from killing a NATS node to the next completed job. Prints the figures and where the CPU went.

One stack home, in this order:
1. `svd up --nats-cluster 3 --replicas 1` (poll delays 1 s; an instant provider: the simulator renders one clip per
   format and serves it for every task, `PROVIDER_SIM_RENDER_CACHE_SCOPE=format`); one warm-up job; a burst of
   `--jobs` approvals
   over 4 tenants; latency = approval published → job terminal (its `updated_at`), jobs/s = jobs / (first
   approval → last job done).
2. `svd up --replicas 2` (the services restart as two replicas each, NATS and the rest stay); the same burst.
3. With jobs arriving steadily (one every `--gap` s) and completing, the VIDEO stream's leader node is killed -9: the
   time from the kill to the next completed job, against the median gap between completions before it.

Profile: CPU seconds of each component (every process of it, replicas summed) during each burst, against the
machine's two cores: what saturates is what limits the figure.

    .venv/bin/python -m tests.benchmarks.bench_scale [--jobs 30] [--gap 3] [--failover-jobs 24] [--failover-only]
        [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import grpc
import nats
import psutil
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from svd.bus.topology import VIDEO
from svd.ids import short_id
from svd_stack.client import StackClient, copy_approved, load_stack

REPO = Path(__file__).resolve().parents[2]
TENANTS = 4
TERMINAL = {c.JOB_STATUS_SUCCEEDED, c.JOB_STATUS_FAILED, c.JOB_STATUS_CANCELLED}


def svd(home: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "svd_stack", *args, "--home", str(home)],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=1200,
    )
    if result.returncode != 0:
        raise SystemExit(f"svd {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def component_of(name: str) -> str:
    """`dispatcher-2` → `dispatcher`, `nats-1` → `nats` (replicas and nodes summed)."""
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() else name


def cpu_seconds(stack: dict[str, Any]) -> dict[str, float]:
    """CPU (user + system) used so far by every process of each component, children included (PostgreSQL's
    backends, SeaweedFS)."""
    used: dict[str, float] = defaultdict(float)
    for name, record in stack["processes"].items():
        if not record.get("pid"):
            continue
        try:
            proc = psutil.Process(record["pid"])
            family = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for member in family:
            try:
                times = member.cpu_times()
                used[component_of(name)] += times.user + times.system
            except psutil.Error:
                continue
    return dict(used)


class Load:
    """Approvals published like the upstream router; completion read back over gRPC."""

    def __init__(self, client: StackClient) -> None:
        self.client = client
        self.tenants = [f"bench-{short_id(6)}" for _ in range(TENANTS)]
        self.count = 0

    async def prepare(self) -> None:
        for tenant in self.tenants:
            await self.client.put_brand(tenant)
            await self.client.grant(tenant, 1_000_000, f"grant-{tenant}")

    async def approve(self) -> tuple[str, str, float]:
        tenant = self.tenants[self.count % TENANTS]
        self.count += 1
        post = f"bench-{short_id(8)}"
        published = time.time()
        await self.client.publish_upstream(
            "social.post.copy_approved", copy_approved(tenant, post, f"evt-{short_id()}")
        )
        return tenant, post, published

    async def job_id(self, tenant: str, post: str) -> str:
        return (await self.client.find_job(tenant, post, timeout_s=120)).job_id

    async def terminal_posts(self, posts: set[str]) -> dict[str, tuple[float, str]]:
        """post → (when its job became terminal, status), for the posts whose job has ended."""
        found: dict[str, tuple[float, str]] = {}
        for tenant in self.tenants:
            try:
                response = await self.client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, limit=500))
            except grpc.aio.AioRpcError:  # a replica or node going away: ask again
                continue
            for job in response.jobs:
                if job.social_post_id in posts and job.status in TERMINAL:
                    found[job.social_post_id] = (job.updated_at.ToDatetime().timestamp(), c.JobStatus.Name(job.status))
        return found

    async def finish_times(self, job_ids: list[str], timeout_s: float = 900) -> dict[str, tuple[float, str]]:
        """When each job became terminal (its `updated_at`, epoch seconds), and its status. One `ListJobs` per tenant
        a second: polling every job's `GetJob` was most of the dispatcher's CPU, the benchmark measuring itself."""
        wanted, done = set(job_ids), dict[str, tuple[float, str]]()
        deadline = time.monotonic() + timeout_s
        while wanted - done.keys():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(wanted - done.keys())} jobs not finished after {timeout_s} s")
            for tenant in self.tenants:
                try:
                    response = await self.client.jobs.ListJobs(jobs_pb2.ListJobsRequest(tenant_id=tenant, limit=500))
                except grpc.aio.AioRpcError:  # a replica or node going away: ask again
                    continue
                for job in response.jobs:
                    if job.job_id in wanted and job.status in TERMINAL:
                        done[job.job_id] = (job.updated_at.ToDatetime().timestamp(), c.JobStatus.Name(job.status))
            await asyncio.sleep(1.0)
        return done


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def burst(home: Path, jobs: int, label: str) -> dict[str, Any]:
    stack = load_stack(home)
    client = StackClient(stack)
    try:
        load = Load(client)
        await load.prepare()
        warm = await load.approve()
        await load.finish_times([await load.job_id(*warm[:2])])  # warm-up: connections, caches
        before = cpu_seconds(stack)
        wall = time.monotonic()
        published = [await load.approve() for _ in range(jobs)]
        ids = [await load.job_id(tenant, post) for tenant, post, _ in published]
        done = await load.finish_times(ids)
        finished = [done[job_id] for job_id in ids]
        elapsed = time.monotonic() - wall
        after = cpu_seconds(load_stack(home))
    finally:
        await client.close()
    latencies = [done - start for (_, _, start), (done, _) in zip(published, finished, strict=True)]
    statuses = {status for _, status in finished}
    span = max(done for done, _ in finished) - published[0][2]
    cpu = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    return {
        "label": label,
        "jobs": jobs,
        "statuses": statuses,
        "jobs_per_s": jobs / span,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "elapsed": elapsed,
        "cpu": cpu,
    }


async def video_leader(stack: dict[str, Any]) -> str:
    """The node leading the VIDEO stream, asked again for up to a minute: on a busy machine the cluster's API can
    miss a request ("no response from stream"), or the stream have no leader for a moment."""
    nc = await nats.connect(stack["nats_urls"])
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(60),
            wait=wait_fixed(2),
            retry=retry_if_exception_type((nats.errors.Error, LookupError)),
            reraise=True,
        ):
            with attempt:
                info = await nc.jetstream().stream_info(VIDEO)
                if info.cluster is None or not info.cluster.leader:
                    raise LookupError("the VIDEO stream has no leader")
                return info.cluster.leader
        raise AssertionError("unreachable")
    finally:
        await nc.close()


async def nats_failover(home: Path, gap_s: float, jobs: int) -> dict[str, Any]:
    """Jobs arriving every `gap_s`; once completions flow (three jobs done), the VIDEO stream's leader is killed -9.
    Returns the time from the kill to the next completion, against the usual gap between completions before it."""
    stack = load_stack(home)
    client = StackClient(stack)
    try:
        load = Load(client)
        await load.prepare()
        published: list[tuple[str, str, float]] = []

        async def feed() -> None:
            for _ in range(jobs):
                published.append(await load.approve())
                await asyncio.sleep(gap_s)

        feeder = asyncio.create_task(feed())
        victim, killed = "", 0.0
        completions: dict[str, tuple[float, str]] = {}
        deadline = time.monotonic() + 1800
        while not feeder.done() or len(completions) < len(published):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(published) - len(completions)} jobs not finished")
            completions = await load.terminal_posts({post for _, post, _ in published})
            if not victim and len(completions) >= 3:
                victim = await video_leader(stack)
                os.kill(stack["processes"][victim]["pid"], signal.SIGKILL)
                killed = time.time()
            await asyncio.sleep(1.0)
        await feeder
        times = sorted(done for done, _ in completions.values())
        before = [t for t in times if t < killed]
        gaps = [b - a for a, b in itertools.pairwise(before)]
        after = [t for t in times if t >= killed]
        return {
            "victim": victim,
            "next_completion_s": after[0] - killed if after else float("nan"),
            "usual_gap_s": statistics.median(gaps) if gaps else float("nan"),
            "max_gap_after_s": max(b - a for a, b in itertools.pairwise([killed, *after])) if after else 0.0,
            "failed": sum(1 for _, status in completions.values() if status != "JOB_STATUS_SUCCEEDED"),
            "jobs": len(completions),
        }
    finally:
        await client.close()


def report(result: dict[str, Any]) -> None:
    cores = 2 * result["elapsed"]
    cpu = sorted(result["cpu"].items(), key=lambda item: -item[1])
    total = sum(seconds for _, seconds in cpu)
    print(
        f"{result['label']}: {result['jobs']} jobs, {result['jobs_per_s']:.2f} jobs/s, latency p50 "
        f"{result['p50']:.2f} s, p99 {result['p99']:.2f} s, statuses {sorted(result['statuses'])}",
        flush=True,
    )
    print(
        f"  CPU during the burst: {total:.1f} s of {cores:.1f} s available on 2 cores ({100 * total / cores:.0f} %); "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu if seconds >= 0.05),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between approvals in the failover run")
    parser.add_argument("--failover-jobs", type=int, default=24, help="approvals in the failover run")
    parser.add_argument("--failover-only", action="store_true", help="skip the bursts: 2 replicas, then the kill")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (its home is printed)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="svd-bench-scale-"))
    env = {
        **os.environ,
        "VIDEO_POLL_INITIAL_DELAY_S": "1",
        "VIDEO_POLL_INTERVAL_S": "1",
        # A burst queues at the simulator (two renders at a time): the poll budget must outlast the queue.
        "VIDEO_POLL_MAX_ATTEMPTS": "900",
        # An instant provider, so the figure is the pipeline's, not the simulated renderer's: one render per format
        # (every run's still differs, its seed is the run, so a cache by inputs would never hit). media-store still
        # conforms every clip to the 1080p deliverable, as in production.
        "PROVIDER_SIM_RENDER_CACHE_SCOPE": "format",
    }
    for name in ("RUNWAY_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    print(f"stack home {home}", flush=True)
    try:
        started = time.monotonic()
        svd(home, env, "up", "--nats-cluster", "3", "--replicas", "2" if args.failover_only else "1")
        print(f"up (3 NATS nodes) in {time.monotonic() - started:.0f} s", flush=True)
        if not args.failover_only:
            report(asyncio.run(burst(home, args.jobs, "1 replica of each service")))
            started = time.monotonic()
            svd(home, env, "up", "--replicas", "2")
            print(f"up with 2 replicas of each service in {time.monotonic() - started:.0f} s", flush=True)
            report(asyncio.run(burst(home, args.jobs, "2 replicas of each service")))
        failover = asyncio.run(nats_failover(home, args.gap, args.failover_jobs))
        print(
            f"NATS node {failover['victim']} (VIDEO leader) killed -9 with jobs arriving every {args.gap} s: next job "
            f"completed {failover['next_completion_s']:.2f} s later (median gap between completions before the kill "
            f"{failover['usual_gap_s']:.2f} s, longest gap after it {failover['max_gap_after_s']:.2f} s); "
            f"{failover['jobs']} jobs, not succeeded: {failover['failed']}",
            flush=True,
        )
    finally:
        if not args.keep:
            svd(home, env, "down", "--purge")


if __name__ == "__main__":
    main()
