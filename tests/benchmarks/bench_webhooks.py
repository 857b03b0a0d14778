"""Webhooks benchmark: deliveries per second to a local receiver, event → delivery latency, CPU per delivery.

Run: `python -m tests.benchmarks.bench_webhooks [--endpoints 1000] [--events 20000] [--rate 1000] [--seconds 10]
[--workers 1] [--telemetry]`
(or `make bench-webhooks`).

It starts the embedded stack's PostgreSQL alone (`svd up --only postgres`) in a temporary home, applies the
dispatcher's migrations, and runs a receiver (aiohttp on loopback, answering 204 and noting when each delivery
arrived against the event time in its payload), `--workers` webhook workers (the dispatcher's own `WebhookWorker`:
fan-out, leased claims, signed attempts, batched recording; WEBHOOKS_ALLOW_PRIVATE for the loopback receiver, default
budgets otherwise) and this process, which makes events the way the dispatcher does — job rows written in
transactions, the outbox trigger adding one event each — for `--endpoints` tenants with one endpoint each. The
workers' spans and metrics are no-ops unless `--telemetry` sets the OpenTelemetry SDK up as the dispatcher does
(exported only if the environment names an OTLP endpoint).

1. Burst: `--events` events committed as fast as they can be, then timed until the receiver has them all:
   deliveries per second, and the latency each event waited (dominated by the backlog).
2. Steady: `--rate` events per second for `--seconds`: p50 / p99 from the event's commit to its arrival.

CPU seconds per delivery are reported for the worker, PostgreSQL and the receiver. Targets (DESIGN §6): ≥ 1,000
deliveries/s and p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from cryptography.fernet import Fernet

from svd.db.pool import conninfo
from svd_stack.ports import pick_free_port

REPO = Path(__file__).resolve().parents[2]
KEK = Fernet.generate_key().decode()


# --- the receiver (its own process) ------------------------------------------------------------------------------


def run_receiver(port: int) -> None:
    from aiohttp import web

    lags: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        sent = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00")).timestamp()
        lags.append(arrived - sent)
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"count": len(lags)})

    async def take(request: web.Request) -> web.Response:
        taken = list(lags)
        lags.clear()
        return web.json_response(taken)

    app = web.Application()
    app.router.add_post("/hook/{endpoint}", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/take", take)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- the worker (its own process) --------------------------------------------------------------------------------


def run_worker(database_url: str) -> None:
    """The worker reads its settings (and the parent's secret key) from the environment the parent gave it."""
    asyncio.run(_worker(database_url))


async def _worker(database_url: str) -> None:
    import signal

    from dispatcher.webhooks import Deliverer, Fanout, Sender, WebhookSettings, WebhookWorker, listen
    from dispatcher.webhooks.domain import address_policy
    from dispatcher.webhooks.events import Media
    from svd import db
    from svd.cipher import SecretCipher
    from svd.netguard import guarded_session
    from svd.runtime import tune_gc

    if os.environ.get("BENCH_TELEMETRY"):
        from svd.telemetry import setup_telemetry

        setup_telemetry("dispatcher")
    settings = WebhookSettings()
    engine = db.create_engine(database_url, 10)
    sessions = db.session_factory(engine)
    policy = address_policy(True)
    client = guarded_session(policy, limit=settings.webhook_max_in_flight)

    async def no_media(snapshot: dict[str, Any]) -> Media:
        return Media()

    worker = WebhookWorker(
        sessions,
        Fanout(sessions, no_media, settings.webhook_progress_interval_s),
        Deliverer(
            sessions,
            Sender(client, policy, settings.webhook_timeout_s, settings.webhook_response_cap_bytes),
            SecretCipher(settings.webhook_secret_encryption_key),
            settings,
        ),
        None,
        settings,
    )
    tune_gc()  # as `run_service` does for the dispatcher once it has started
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    listener = asyncio.create_task(listen(database_url, worker.wake, stop))
    await worker.run(stop)
    await listener
    await client.close()
    await engine.dispose()


# --- the orchestrator --------------------------------------------------------------------------------------------


def _svd(home: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "svd_stack", *args, "--home", str(home)], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"svd {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _cpu(pid: int, children: bool = False) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *(root.children(recursive=True) if children else [])]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _setup(database_url: str, endpoints: int, port: int) -> list[str]:
    from svd.cipher import SecretCipher

    cipher = SecretCipher(KEK)
    tenants = [f"bt-{i:05d}" for i in range(endpoints)]
    with psycopg.connect(conninfo(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dispatcher.webhook_endpoints (endpoint_id, tenant_id, url, secret) VALUES (%s, %s, %s, %s)",
            [
                (f"ep_{i:05d}", tenant, f"http://127.0.0.1:{port}/hook/{i}", cipher.encrypt("whsec_" + "A" * 44))
                for i, tenant in enumerate(tenants)
            ],
        )
    return tenants


_JOB = """
INSERT INTO dispatcher.jobs (job_id, tenant_id, social_post_id, source_event_id, run, status, step, progress,
    wake_reason, platform, platform_format, content_type, copy, duration_seconds, aspect_ratio, with_audio,
    deadline_at, trace_id)
VALUES (%s, %s, %s, %s, 1, 'running', 'reserving', 5, 'copy_approved', 'instagram', 'reel', 'promotional',
    '{"headline": "Benchmark"}', 5, '9:16', false, %s, %s)
"""


def _jobs(tenants: list[str], count: int, start: int) -> list[tuple[Any, ...]]:
    deadline = datetime.now(UTC) + timedelta(hours=1)
    rows = []
    for n in range(start, start + count):
        job_id = str(uuid.uuid4())
        rows.append((job_id, tenants[n % len(tenants)], f"p-{n}", f"bench-{job_id}", deadline, uuid.uuid4().hex))
    return rows


def _insert(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]], batch: int = 500) -> None:
    for i in range(0, len(rows), batch):
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_JOB, rows[i : i + batch])


def _wait_for(receiver: str, count: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        got = httpx.get(f"{receiver}/stats").json()["count"]
        if got >= count:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {got} of {count} deliveries arrived in {timeout_s:.0f} s")
        time.sleep(0.02)


def _take(receiver: str) -> list[float]:
    return sorted(httpx.post(f"{receiver}/take", timeout=30).json())


def _attempts(conn: psycopg.Connection[Any]) -> str:
    """Attempts so far by outcome (an attempt that was not a 2xx is a retry the burst paid for)."""
    rows = conn.execute(
        "SELECT CASE WHEN http_status BETWEEN 200 AND 299 THEN 'ok' ELSE left(error, 60) END, count(*) "
        "FROM dispatcher.webhook_attempts GROUP BY 1 ORDER BY 2 DESC LIMIT 4"
    ).fetchall()
    conn.execute("DELETE FROM dispatcher.webhook_attempts")
    conn.commit()
    return ", ".join(f"{what}: {count}" for what, count in rows)


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def bench(home: Path, args: argparse.Namespace) -> None:
    info = json.loads((home / "stack.json").read_text())
    database_url = info["database_url"]
    from dispatcher.app import VERSIONS
    from svd import db

    asyncio.run(db.migrate(database_url, "dispatcher", VERSIONS))
    port = pick_free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WEBHOOK_SECRET_ENCRYPTION_KEY": KEK, "WEBHOOKS_ALLOW_PRIVATE": "true"}
    if args.telemetry:
        env["BENCH_TELEMETRY"] = "1"
    me = [sys.executable, "-m", "tests.benchmarks.bench_webhooks"]
    receiver = subprocess.Popen([*me, "--role", "receiver", "--port", str(port)], cwd=REPO, env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{receiver_url}/stats")
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.1)
        tenants = _setup(database_url, args.endpoints, port)
        for _ in range(args.workers):  # like dispatcher replicas: they share the outbox and the deliveries
            workers.append(
                subprocess.Popen([*me, "--role", "worker", "--database-url", database_url], cwd=REPO, env=env)
            )
        pg_pid = int(info["processes"]["postgres"]["pid"])

        def cpu_now() -> tuple[float, float, float]:
            return (sum(_cpu(w.pid) for w in workers), _cpu(pg_pid, children=True), _cpu(receiver.pid))

        with psycopg.connect(conninfo(database_url)) as conn:
            # Warm-up: connections, caches, the first claims.
            _insert(conn, _jobs(tenants, 200, 0))
            _wait_for(receiver_url, 200, 60)
            _take(receiver_url)
            time.sleep(0.5)
            _attempts(conn)

            cpu = cpu_now()
            started = time.monotonic()
            _insert(conn, _jobs(tenants, args.events, 200))
            committed = time.monotonic()
            finished = _wait_for(receiver_url, args.events, 600)
            used = [a - b for a, b in zip(cpu_now(), cpu, strict=True)]
            lags = _take(receiver_url)
            time.sleep(0.5)  # the last results are written in batches
            attempts = _attempts(conn)
            rate = args.events / (finished - started)
            print(
                f"burst: {args.events} events to {args.endpoints} endpoints (one tenant each), {args.workers} worker(s)"
                + (" with the telemetry SDK" if args.telemetry else "")
            )
            print(f"  committed in {committed - started:.2f} s; all delivered after {finished - started:.2f} s")
            print(f"  deliveries/s        {rate:,.0f}   (target >= 1,000)")
            print(
                f"  event -> delivery   p50 {_quantile(lags, 0.5):.3f} s   p99 {_quantile(lags, 0.99):.3f} s (backlog)"
            )
            print(
                "  CPU per delivery    worker {:.2f} ms, PostgreSQL {:.2f} ms, receiver {:.2f} ms".format(
                    *(1000 * u / args.events for u in used)
                )
            )
            print(f"  attempts            {attempts}")

            total = int(args.rate * args.seconds)
            per_tick = max(1, int(args.rate / 20))
            rows = _jobs(tenants, total, 200 + args.events)
            cpu = cpu_now()
            started = time.monotonic()
            for i in range(0, total, per_tick):
                _insert(conn, rows[i : i + per_tick])
                pause = started + (i + per_tick) / args.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            offered = total / (time.monotonic() - started)
            _wait_for(receiver_url, total, 600)
            used = [a - b for a, b in zip(cpu_now(), cpu, strict=True)]
            lags = _take(receiver_url)
            time.sleep(0.5)
            attempts = _attempts(conn)
            print(f"steady: {total} events at {offered:,.0f}/s for {args.seconds:g} s")
            print(
                f"  event -> delivery   p50 {_quantile(lags, 0.5):.3f} s   p99 {_quantile(lags, 0.99):.3f} s"
                f"   max {lags[-1]:.3f} s   (target p99 < 1 s)"
            )
            print(f"  mean {statistics.fmean(lags):.3f} s")
            print(
                "  CPU per delivery    worker {:.2f} ms, PostgreSQL {:.2f} ms, receiver {:.2f} ms".format(
                    *(1000 * u / total for u in used)
                )
            )
            print(f"  attempts            {attempts}")
    finally:
        for proc in (*workers, receiver):
            if proc is not None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
                if proc.poll() is None:
                    proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second in the steady phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the steady phase")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (dispatcher replicas)")
    parser.add_argument("--telemetry", action="store_true", help="workers record spans and metrics (OTel SDK)")
    parser.add_argument("--role", choices=("bench", "receiver", "worker"), default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.role == "receiver":
        run_receiver(args.port)
        return
    if args.role == "worker":
        run_worker(args.database_url)
        return
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        home = Path(tmp)
        _svd(home, "up", "--only", "postgres")
        try:
            bench(home, args)
        finally:
            _svd(home, "down")


if __name__ == "__main__":
    main()
