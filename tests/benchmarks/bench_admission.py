"""Benchmark of fair admission: 10,000 queued jobs over 100 tenants, on a real PostgreSQL (the embedded stack's).

It starts PostgreSQL alone (`svd up --only postgres`) in a temporary home, migrates the dispatcher's schema, queues
the jobs in bursts (tenant 0's hundred oldest, then tenant 1's, …: the worst order for a first-come queue) and runs
the real admission (`dispatcher.admission`: its decision pass, its loop woken by `NOTIFY svd_admission` through the
job event feed) with starting stubbed out (no billing, no bus: this measures the decisions). Three figures:

- decisions per second: every job admitted, slots freed a whole batch at a time (each pass admits into every free
  slot), over the total time spent in passes;
- slot-free → next admitted: one running job ends (its commit), the loop wakes on the notification and admits the
  next; p50 / p99 over many single frees, each waited for;
- fairness spread: after every pass, max - min of jobs admitted per tenant among tenants still waiting.

Targets (the design's budget): ≥ 500 decisions/s, p99 < 100 ms, spread ≤ 1.

    python -m tests.benchmarks.bench_admission [--tenants 100] [--jobs-per-tenant 100] [--replicas 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dispatcher.admission import ADMISSION_CHANNEL, QUEUE_TOPIC, Admission, AdmissionSettings, run_admission
from dispatcher.app import VERSIONS
from dispatcher.watch import JobEventFeed, WatchSettings
from svd import db

REPO = Path(__file__).resolve().parents[2]


@dataclass
class StubLifecycle:
    """What admission needs of the job lifecycle, with starting a job reduced to marking it started."""

    sessions: Any
    job_deadline_s: int = 3600

    async def advance(self, job: Any) -> None:
        async with db.transaction(self.sessions) as session:
            await session.execute(
                text("UPDATE dispatcher.jobs SET started_at = now() WHERE job_id = :id"), {"id": job.job_id}
            )


@dataclass
class Recorder:
    """Each pass's end time and what it admitted (all replicas of this process)."""

    passes: list[tuple[float, list[str]]] = field(default_factory=list)
    pass_seconds: float = 0.0
    admitted: asyncio.Event = field(default_factory=asyncio.Event)


class TimedAdmission(Admission):
    recorder: Recorder

    async def decide(self) -> list[Any]:
        started = time.perf_counter()
        rows = await super().decide()
        ended = time.perf_counter()
        self.recorder.pass_seconds += ended - started
        if rows:
            self.recorder.passes.append((ended, [row.tenant_id for row in rows]))
            self.recorder.admitted.set()
        return rows


def _svd(home: Path, *args: str) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "svd_stack", *args, "--home", str(home)], cwd=REPO, check=True, capture_output=True
    )
    return dict(json.loads((home / "stack.json").read_text()))


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    home = Path(tempfile.mkdtemp(prefix="bench-admission-"))
    try:
        info = _svd(home, "up", "--only", "postgres")
        yield str(info["database_url"])
    finally:
        subprocess.run([sys.executable, "-m", "svd_stack", "down", "--home", str(home)], cwd=REPO, check=False)


SEED = text(
    """
    WITH seeded AS (
        SELECT t, k, format('bench-t%s', lpad(t::text, 3, '0')) AS tenant_id, format('job-%s-%s', t, k) AS job_id
        FROM generate_series(0, :tenants - 1) AS t, generate_series(0, :per_tenant - 1) AS k
    ), posts AS (
        INSERT INTO dispatcher.posts (tenant_id, social_post_id, platform, platform_format, status,
                                      deliverable_status, current_job_id)
        SELECT tenant_id, job_id, 'instagram', 'reel', 'design_pending', 'generating', job_id FROM seeded
    )
    INSERT INTO dispatcher.jobs (job_id, tenant_id, social_post_id, source_event_id, run, status, step, progress,
        wake_reason, platform, platform_format, content_type, copy, duration_seconds, aspect_ratio, with_audio,
        credits_needed, deadline_at, created_at, updated_at)
    SELECT job_id, tenant_id, job_id, 'evt-' || job_id, 1, 'queued', 'unspecified', 0, 'copy_approved', 'instagram',
        'reel', 'promotional', '{"headline": "bench"}'::jsonb, 5, '9:16', false, 15, now() + interval '1 day',
        now() - interval '1 hour' + (t * :per_tenant + k) * interval '1 millisecond', now()
    FROM seeded
    """
)


async def _seed(sessions: Any, tenants: int, per_tenant: int) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(SEED, {"tenants": tenants, "per_tenant": per_tenant})


async def _finish(sessions: Any, limit: int) -> float:
    """End up to `limit` running jobs (oldest admission first); the time their commit returned."""
    async with db.transaction(sessions) as session:
        await session.execute(
            text(
                """
                UPDATE dispatcher.jobs SET status = 'succeeded', updated_at = now() WHERE job_id IN (
                    SELECT job_id FROM dispatcher.jobs WHERE status = 'running' ORDER BY admitted_at LIMIT :n
                )
                """
            ),
            {"n": limit},
        )
    return time.perf_counter()


async def _waiting(sessions: Any) -> int:
    async with sessions() as session:
        return int((await session.execute(text("SELECT sum(queued) FROM dispatcher.admission_tenants"))).scalar())


def _spread(passes: list[tuple[float, list[str]]], tenants: int, per_tenant: int) -> int:
    admitted: Counter[str] = Counter()
    worst = 0
    for _, picked in passes:
        admitted.update(picked)
        waiting = [admitted[f"bench-t{t:03}"] for t in range(tenants) if admitted[f"bench-t{t:03}"] < per_tenant]
        if len(waiting) == tenants:  # every tenant still has jobs waiting: the spread is the scheduler's alone
            worst = max(worst, max(waiting) - min(waiting))
    return worst


async def bench(database_url: str, tenants: int, per_tenant: int, replicas: int, frees: int) -> None:
    await db.migrate(database_url, "dispatcher", VERSIONS)
    engines = [db.create_engine(database_url, 5) for _ in range(replicas + 1)]
    sessions = [db.session_factory(engine) for engine in engines]
    settings = AdmissionSettings(jobs_max_in_flight=100, tenant_max_in_flight=2, admission_tick_s=5.0)
    recorder = Recorder()
    admissions = []
    for own in sessions[:replicas]:
        admission = TimedAdmission(StubLifecycle(own), settings)  # type: ignore[arg-type]
        admission.recorder = recorder
        admissions.append(admission)
    control = sessions[-1]
    try:
        await _seed(control, tenants, per_tenant)
        total = tenants * per_tenant
        print(
            f"seeded {total} queued jobs over {tenants} tenants; caps 100 in all, 2 per tenant; {replicas} replica(s)"
        )

        # 1. Throughput: free every running job, one pass admits into every slot; repeat until the queue is empty.
        started = time.perf_counter()
        while await _waiting(control) > 0:
            await admissions[len(recorder.passes) % replicas].decide()
            await _finish(control, settings.jobs_max_in_flight)
        wall = time.perf_counter() - started
        decided = sum(len(p) for _, p in recorder.passes)
        print(
            f"decisions: {decided} admitted in {len(recorder.passes)} passes; "
            f"{decided / recorder.pass_seconds:,.0f} decisions/s in passes ({decided / wall:,.0f}/s wall, "
            f"with freeing); spread max-min per tenant {_spread(recorder.passes, tenants, per_tenant)}"
        )

        # 2. Latency: the real loop(s), woken by NOTIFY; free one slot at a time and wait for its next admission.
        async with db.transaction(control) as session:
            await session.execute(text("DELETE FROM dispatcher.jobs"))
            await session.execute(text("DELETE FROM dispatcher.posts"))
            await session.execute(text("UPDATE dispatcher.admission_tenants SET last_turn = NULL"))
        await _seed(control, tenants, per_tenant)
        recorder.passes.clear()
        stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            feeds = [
                await stack.enter_async_context(
                    JobEventFeed.open(database_url, WatchSettings(), {ADMISSION_CHANNEL: QUEUE_TOPIC})
                )
                for _ in admissions
            ]
            await asyncio.gather(*(feed.connected.wait() for feed in feeds))
            loops = [asyncio.create_task(run_admission(a, f, stop)) for a, f in zip(admissions, feeds, strict=True)]
            slots = min(settings.jobs_max_in_flight, tenants * settings.tenant_max_in_flight)
            while sum(len(p) for _, p in recorder.passes) < slots:
                await asyncio.wait_for(recorder.admitted.wait(), 10)
                recorder.admitted.clear()
            latencies = []
            single_started = time.perf_counter()
            for _ in range(frees):
                recorder.admitted.clear()
                seen = len(recorder.passes)
                freed_at = await _finish(control, 1)
                await asyncio.wait_for(recorder.admitted.wait(), 10)
                latencies.append((recorder.passes[seen][0] - freed_at) * 1000)
            single_s = time.perf_counter() - single_started
            stop.set()
            await asyncio.gather(*loops)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"slot-free → next admitted over {frees} single frees: p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms ({frees / single_s:,.0f} free-and-admit cycles/s, one at a"
            f" time); spread {_spread(recorder.passes, tenants, per_tenant)}"
        )
    finally:
        for engine in engines:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--jobs-per-tenant", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1, help="admission loops racing (each its own pool)")
    parser.add_argument("--frees", type=int, default=1000, help="single slot frees timed")
    args = parser.parse_args()
    with postgres() as database_url:
        asyncio.run(bench(database_url, args.tenants, args.jobs_per_tenant, args.replicas, args.frees))


if __name__ == "__main__":
    main()
