"""Benchmark: one video-gateway process with 10,000 jobs in flight against the provider simulator.

Starts an embedded stack (`svd up`, no trace export), creates N real Runway tasks on the simulator that stay
THROTTLED (so nothing renders and nothing finishes), and seeds the gateway's state for N jobs the way its submit
path leaves it: one `submissions` row and one `video.poll` message per job. Submission times are spread evenly
over one poll interval, as they are in steady state. Then it measures the gateway process only:

- resident memory (VmRSS now, VmHWM peak) with every job in flight;
- CPU while idle between checks (the window after the first deliveries were parked and before the first check);
- drift: when each check reached the provider (the simulator's request journal) against its due time
  (submitted_at + initial delay + (k - 1) * interval), over `--rounds` rounds of checks.

Targets: < 300 MiB RSS, near-zero idle CPU, drift < 1 s.

    .venv/bin/python -m tests.benchmarks.bench_gateway [--jobs 10000] [--initial 40] [--interval 30] [--rounds 2]
        [--export-traces]

With `--export-traces` every service exports its spans over OTLP to a receiver in the benchmark's process, as in
production (without it the spans are made but not exported).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
from PIL import Image

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from tests.otlp_sink import SpanSink, start_sink

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def svd(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "svd_stack", *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=300
    )
    if result.returncode != 0:
        raise SystemExit(f"svd {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def proc_rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def proc_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / CLK_TCK


def tiny_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 112), (30, 60, 120)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def create_tasks(sim_url: str, key: str, count: int) -> list[str]:
    """`count` real Runway tasks on the simulator, THROTTLED for an hour (never rendered, never finished)."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=60) as http:
        response = await http.post(
            "/_sim/faults", json={"provider": "runway", "throttle_seconds": 3600, "throttle_count": count}
        )
        response.raise_for_status()
        body = {"model": "gen4_turbo", "promptImage": tiny_png(), "promptText": "Slow zoom in.", "ratio": "720:1280"}
        headers = {"Authorization": f"Bearer {key}", "X-Runway-Version": "2024-11-06"}
        limit = asyncio.Semaphore(32)

        async def one() -> str:
            async with limit:
                answer = await http.post("/v1/image_to_video", json={**body, "duration": 5}, headers=headers)
                answer.raise_for_status()
                return str(answer.json()["id"])

        return await asyncio.gather(*(one() for _ in range(count)))


def seed_rows(database_url: str, tasks: list[str], submitted: list[datetime]) -> None:
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        with conn.cursor().copy(
            "COPY video_gateway.submissions (job_id, run, state, provider, provider_job_id, motion_prompt,"
            " claimed_at, submitted_at) FROM STDIN"
        ) as copy:
            for i, (task_id, at) in enumerate(zip(tasks, submitted, strict=True)):
                copy.write_row((f"bench-{i}", 0, "polling", "runway", task_id, "Slow zoom in.", at, at))


async def seed_polls(nats_url: str, tasks: list[str], submitted: list[datetime]) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def publish(i: int) -> None:
            poll = pipeline_pb2.VideoPoll(
                ref=pipeline_pb2.JobRef(job_id=f"bench-{i}", tenant_id="bench", social_post_id=f"post-{i}", run=0),
                spec=pipeline_pb2.VideoSpec(duration_seconds=5, aspect_ratio="9:16"),
                provider=c.VIDEO_PROVIDER_RUNWAY,
                provider_job_id=tasks[i],
                motion_prompt="Slow zoom in.",
                still_key=f"bench/{i}.png",
            )
            poll.submitted_at.FromDatetime(submitted[i])
            headers = {"Nats-Msg-Id": f"bench-{i}:poll", "content-type": "application/x-protobuf"}
            await js.publish("video.poll", poll.SerializeToString(), headers=headers)

        for start in range(0, len(tasks), 500):
            await asyncio.gather(*(publish(i) for i in range(start, min(start + 500, len(tasks)))))
    finally:
        await nc.drain()


async def parked(nats_url: str, timeout_s: float = 300) -> None:
    """Wait until the gateway has taken every poll message once (each now waits in JetStream for its delay)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not (await js.consumer_info("VIDEO", "video-gateway-poll")).num_pending:
                return
            await asyncio.sleep(0.5)
    finally:
        await nc.drain()


def drift(
    journal: list[dict[str, Any]], submitted: dict[str, float], initial: float, interval: float, rounds: int
) -> list[float]:
    """Seconds each of the first `rounds` checks of every task reached the provider after its due time."""
    seen: dict[str, int] = {}
    drifts = []
    for record in sorted(journal, key=lambda r: r["seq"]):
        task = record["task_id"]
        if task not in submitted or record["status"] != 200:
            continue
        k = seen[task] = seen.get(task, 0) + 1
        if k <= rounds:
            drifts.append(record["time"] - (submitted[task] + initial + (k - 1) * interval))
    return drifts


async def bench(
    jobs: int, initial: float, interval: float, rounds: int, home: Path, sink: SpanSink | None, sink_port: int
) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and key not in ("RUNWAY_API_KEY", "FAL_API_KEY")
    }
    if sink is not None:  # every service exports its spans, as in production
        env.update(
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
            OTEL_EXPORTER_OTLP_INSECURE="true",
        )
    env.update(
        VIDEO_POLL_INITIAL_DELAY_S=str(initial),
        VIDEO_POLL_INTERVAL_S=str(interval),
        VIDEO_POLL_MAX_ATTEMPTS="15",
        LOG_LEVEL="WARNING",
    )
    svd("up", "--home", str(home), env=env)
    try:
        info = json.loads((home / "stack.json").read_text())
        pid = int(info["processes"]["video_gateway"]["pid"])
        rss_start, _ = proc_rss_mib(pid)
        t0 = time.time()
        tasks = await create_tasks(info["provider_sim_url"], info["runway_api_key"], jobs)
        created_s = time.time() - t0
        # Spread over one interval, starting when seeding ends: the first check of job i is due at base + i * step.
        base = datetime.now(UTC) + timedelta(seconds=10)
        step = interval / jobs
        submitted = [base + timedelta(seconds=i * step) for i in range(jobs)]
        seed_rows(info["database_url"], tasks, submitted)
        await seed_polls(info["nats_url"], tasks, submitted)
        seeded_s = time.time() - t0
        first_due = base.timestamp() + initial

        # Idle: every poll message has been delivered once and parked with its delay; no check is due yet.
        await parked(info["nats_url"])
        idle_from = time.time() + 3
        if first_due - idle_from < 10:
            raise SystemExit(f"--initial too short: seeding took {seeded_s:.0f} s, no idle window left")
        await asyncio.sleep(idle_from - time.time())
        cpu0, idle_t0 = proc_cpu_s(pid), time.time()
        await asyncio.sleep(first_due - 2 - time.time())
        idle_cpu = (proc_cpu_s(pid) - cpu0) / (time.time() - idle_t0)
        rss_idle, _ = proc_rss_mib(pid)

        # Checks: `rounds` rounds, each spread over one interval.
        sim_pid = int(info["processes"]["provider-sim"]["pid"])
        cpu1, sim_cpu1, busy_t0 = proc_cpu_s(pid), proc_cpu_s(sim_pid), time.time()
        await asyncio.sleep(first_due + rounds * interval + 3 - time.time())
        busy_cpu = (proc_cpu_s(pid) - cpu1) / (time.time() - busy_t0)
        sim_cpu = (proc_cpu_s(sim_pid) - sim_cpu1) / (time.time() - busy_t0)
        rss_end, rss_peak = proc_rss_mib(pid)
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.get(
                f"{info['provider_sim_url']}/_sim/requests", params={"provider": "runway", "op": "status"}
            )
            journal = response.json()["requests"]
        anchors = {task: at.timestamp() for task, at in zip(tasks, submitted, strict=True)}
        late = drift(journal, anchors, initial, interval, rounds)
        due_checks = jobs * rounds
        return {
            "jobs": jobs,
            "traces_exported": sink is not None,
            "gateway_spans_received": sum(1 for span in sink.spans if span[0] == "video-gateway") if sink else 0,
            "seed_s": round(seeded_s, 1),
            "create_tasks_s": round(created_s, 1),
            "rss_mib": {
                "start": round(rss_start),
                "idle": round(rss_idle),
                "end": round(rss_end),
                "peak": round(rss_peak),
            },
            "cpu_idle_pct": round(100 * idle_cpu, 2),
            "cpu_busy_pct": round(100 * busy_cpu, 1),
            "simulator_cpu_busy_pct": round(100 * sim_cpu, 1),
            "load_average": os.getloadavg(),
            "checks_per_s": round(jobs / interval),
            "checks": {"due": due_checks, "made": len(late)},
            "drift_s": {
                "p50": round(statistics.median(late), 3),
                "p99": round(statistics.quantiles(late, n=100)[98], 3),
                "max": round(max(late), 3),
                "min": round(min(late), 3),
            },
        }
    finally:
        svd("down", "--home", str(home), env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--initial", type=float, default=45.0, help="VIDEO_POLL_INITIAL_DELAY_S")
    parser.add_argument("--interval", type=float, default=30.0, help="VIDEO_POLL_INTERVAL_S")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of checks to measure")
    parser.add_argument("--home", type=Path, help="stack home to use and keep (logs); default a temporary one")
    parser.add_argument("--export-traces", action="store_true", help="export every span to a local OTLP receiver")
    args = parser.parse_args()
    receiver = start_sink() if args.export_traces else None
    sink, port = (receiver.sink, receiver.grpc_port) if receiver else (None, 0)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-gateway-") as temporary:
            home = args.home or Path(temporary)
            result = asyncio.run(bench(args.jobs, args.initial, args.interval, args.rounds, home, sink, port))
    finally:
        if receiver is not None:
            receiver.stop()
    print(json.dumps(result, indent=2))
    ok = result["rss_mib"]["peak"] < 300 and result["drift_s"]["max"] < 1.0 and result["cpu_idle_pct"] < 2.0
    ok = ok and result["checks"]["made"] == result["checks"]["due"]
    print("targets (< 300 MiB RSS, idle CPU < 2 %, drift < 1 s, every check made):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
