"""Billing benchmark: reserve + consume pairs per second over gRPC, and straight to PostgreSQL as the ceiling.

Run: `python -m tests.benchmarks.bench_billing [--seconds 10] [--replicas 1] [--pool 8] [--flushers 2]`
(or `make bench-billing`).

It starts its own NATS and PostgreSQL (the embedded stack's, `svd up --only`) in a temporary home and real billing
processes, then measures with 64 concurrent clients:

- gRPC, one tenant (every pair contends for one account row) and 64 tenants (one each);
- the floor: the same clients making two health checks against a bare grpc.aio server (no interceptors, tracing or
  database; `grpc_floor`), and against billing's own server (its interceptors and tracing, no database);
- raw: the same two transactions (`billing.reserve`, `billing.consume`) issued straight to PostgreSQL from this
  process through a pool of the same size, as the ceiling;

and prints pairs/s with p50 / p99 pair latency. It then verifies there was no overdraft: every account's balance is
its grant minus 15 per completed pair with nothing left held, the ledger sums to it and never showed a negative
available, and 64 clients racing to reserve from an account holding 100 holds' worth get exactly 100 holds.
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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from billing.ledger import Ledger
from social_video.v1 import billing_pb2, billing_pb2_grpc
from svd.db.pool import conninfo, open_pool
from svd_stack.checks import grpc_serving
from svd_stack.ports import pick_free_port
from tests.billing.replicas import Keys, Replica, start_replica

CREDIT = "ai_video_generation"
CLIENTS = 64
PRICE = 15
GRANT = 10**12
REPO = Path(__file__).resolve().parents[2]

Pair = Callable[[str, str], Awaitable[None]]  # (tenant, idempotency key) → one reserve + consume


@dataclass
class Result:
    name: str
    pairs: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the run, per process group

    @property
    def rate(self) -> float:
        return self.pairs / self.seconds

    def line(self) -> str:
        q = statistics.quantiles(self.latencies_ms, n=100)
        cpu = "  ".join(f"{name} {1e6 * used / self.pairs:4.0f}" for name, used in self.cpu_s.items())
        return (
            f"{self.name:<42} {self.rate:>7,.0f} pairs/s  p50 {q[49]:7.2f} ms  p99 {q[98]:7.2f} ms  CPU µs/pair: {cpu}"
        )


class CpuMeter:
    """CPU seconds used by process groups: this process, the billing replicas, PostgreSQL (postmaster and backends).

    Only the groups named in `with_children` count their child processes (PostgreSQL's backends; not this process's
    children, which are the billing replicas, counted on their own)."""

    def __init__(self, groups: dict[str, list[int]], with_children: frozenset[str] = frozenset({"postgres"})) -> None:
        self._groups = {name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()}
        self._with_children = with_children

    def _now(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, roots in self._groups.items():
            total = 0.0
            for root in roots:
                children = root.children(recursive=True) if name in self._with_children else []
                for proc in [root, *children]:
                    with contextlib.suppress(psutil.Error):
                        times = proc.cpu_times()
                        total += times.user + times.system
            used[name] = total
        return used

    @contextlib.contextmanager
    def measure(self, into: dict[str, float]) -> Iterator[None]:
        before = self._now()
        yield
        after = self._now()
        into.update({name: after[name] - before[name] for name in after})


async def _drive(
    name: str, pair: Pair, tenants: list[str], seconds: float, done: dict[str, int], meter: CpuMeter | None = None
) -> Result:
    """64 clients, each doing pairs back to back on its tenant for `seconds`."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]

    async def client(i: int) -> None:
        tenant = tenants[i % len(tenants)]
        n = 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            await pair(tenant, f"{run}-{i}-{n}")
            latencies.append((time.perf_counter() - began) * 1000)
            done[tenant] = done.get(tenant, 0) + 1
            n += 1

    result = Result(name, 0, 0.0, latencies)
    with meter.measure(result.cpu_s) if meter else contextlib.nullcontext():
        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        result.seconds = time.perf_counter() - began
    result.pairs = len(latencies)
    return result


def grpc_pair(stubs: list[billing_pb2_grpc.BillingStub], metadata: tuple[tuple[str, str], ...]) -> Pair:
    counter = iter(range(10**12))

    async def pair(tenant: str, key: str) -> None:
        stub = stubs[next(counter) % len(stubs)]
        reserved = await stub.Reserve(
            billing_pb2.ReserveRequest(tenant_id=tenant, credit_type=CREDIT, amount=PRICE, idempotency_key=key),
            metadata=metadata,
        )
        await stub.Consume(
            billing_pb2.ConsumeRequest(reservation_id=reserved.reservation.reservation_id, amount=PRICE),
            metadata=metadata,
        )

    return pair


def raw_pair(pool: AsyncConnectionPool) -> Pair:
    async def pair(tenant: str, key: str) -> None:
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT * FROM billing.reserve(%s, %s, %s, %s, %s, %s)", (tenant, CREDIT, PRICE, key, "", 3600)
                )
            ).fetchone()
        assert row is not None and row[0] == "ok", row
        async with pool.connection() as conn:
            done = await (
                await conn.execute("SELECT * FROM billing.consume(%s, %s, %s)", (row[1], PRICE, None))
            ).fetchone()
        assert done is not None and done[0] == "ok", done

    return pair


def ledger_pair(ledger: Ledger) -> Pair:
    async def pair(tenant: str, key: str) -> None:
        hold, _ = await ledger.reserve(tenant, CREDIT, PRICE, key, "", 3600)
        await ledger.consume(hold.reservation_id, PRICE, None)

    return pair


def health_pair(channels: list[grpc.aio.Channel]) -> Pair:
    """Two health checks: the gRPC transport alone (same server, interceptors and tracing; no database)."""
    stubs = [health_pb2_grpc.HealthStub(ch) for ch in channels]
    counter = iter(range(10**12))

    async def pair(tenant: str, key: str) -> None:
        stub = stubs[next(counter) % len(stubs)]
        await stub.Check(health_pb2.HealthCheckRequest())
        await stub.Check(health_pb2.HealthCheckRequest())

    return pair


def _verify(database_url: str, done: dict[str, int]) -> None:
    """No overdraft, nothing held, and each account's ledger sums to its balance."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        for tenant, pairs in done.items():
            balance, held = conn.execute(
                "select balance, held from billing.accounts where tenant_id = %s", (tenant,)
            ).fetchone() or (None, None)
            assert (balance, held) == (GRANT - PRICE * pairs, 0), f"{tenant}: {balance}/{held} after {pairs} pairs"
            sums: dict[str, int] = dict(
                conn.execute(
                    "select kind, sum(amount) from billing.ledger where tenant_id = %s group by kind", (tenant,)
                ).fetchall()
            )
            assert sums["grant"] - sums["consume"] == balance and sums["hold"] - sums["consume"] == held
        negative = conn.execute(
            "select count(*) from billing.ledger where tenant_id = any(%s) and held_after > balance_after",
            (list(done),),
        ).fetchone()
        assert negative == (0,), f"{negative} ledger entries show a negative available balance"


async def _overdraft_probe(stub: billing_pb2_grpc.BillingStub, metadata: tuple[tuple[str, str], ...]) -> int:
    """64 clients reserve until refused from an account that can hold exactly 100 pairs' worth (plus change)."""
    tenant = f"probe-{uuid.uuid4().hex[:8]}"
    grant = billing_pb2.GrantRequest(tenant_id=tenant, credit_type=CREDIT, amount=PRICE * 100 + 7, idempotency_key="p")
    await stub.Grant(grant, metadata=metadata)
    granted = 0

    async def client(i: int) -> None:
        nonlocal granted
        for n in range(1000):
            request = billing_pb2.ReserveRequest(
                tenant_id=tenant, credit_type=CREDIT, amount=PRICE, idempotency_key=f"{i}-{n}"
            )
            try:
                await stub.Reserve(request, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()
                return
            granted += 1

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return granted


async def _grant_all(
    stub: billing_pb2_grpc.BillingStub, metadata: tuple[tuple[str, str], ...], tenants: list[str]
) -> None:
    for tenant in tenants:
        request = billing_pb2.GrantRequest(tenant_id=tenant, credit_type=CREDIT, amount=GRANT, idempotency_key="bench")
        await stub.Grant(request, metadata=metadata)


async def bench(
    targets: list[str],
    keys: Keys,
    database_url: str,
    seconds: float,
    pool_size: int,
    flushers: int,
    meter: CpuMeter,
    floor: subprocess.Popen[bytes],
    floor_target: str,
) -> None:
    metadata = (("authorization", f"Bearer {keys.admin}"),)
    channels = [grpc.aio.insecure_channel(t) for t in targets for _ in range(2)]
    stubs = [billing_pb2_grpc.BillingStub(ch) for ch in channels]
    run = uuid.uuid4().hex[:6]

    def tenants(kind: str) -> tuple[list[str], list[str]]:
        return [f"{kind}-{run}-one"], [f"{kind}-{run}-{i:02d}" for i in range(CLIENTS)]

    warm, (one, many), (raw_one, raw_many), (led_one, led_many) = (
        tenants("warm")[1],
        tenants("grpc"),
        tenants("raw"),
        tenants("ledger"),
    )
    await _grant_all(stubs[0], metadata, warm + one + many + raw_one + raw_many + led_one + led_many)
    done: dict[str, int] = {}
    pair = grpc_pair(stubs, metadata)
    await _drive("warm-up", pair, warm, 2.0, done)  # connections opened, statements prepared
    results = [
        await _floor(floor_target, floor.pid, one, seconds),
        await _drive("gRPC transport alone (2 health checks)", health_pair(channels), one, seconds, {}, meter),
        await _drive("gRPC, 1 tenant", pair, one, seconds, done, meter),
        await _drive("gRPC, 64 tenants", pair, many, seconds, done, meter),
    ]
    async with open_pool(database_url, pool_size, "bench-billing") as pool:
        ledger = Ledger(pool, flushers)
        results += [
            await _drive("raw PostgreSQL, 1 tx per call, 1 tenant", raw_pair(pool), raw_one, seconds, done, meter),
            await _drive("raw PostgreSQL, 1 tx per call, 64 tenants", raw_pair(pool), raw_many, seconds, done, meter),
            await _drive("raw PostgreSQL, group commit, 1 tenant", ledger_pair(ledger), led_one, seconds, done, meter),
            await _drive(
                "raw PostgreSQL, group commit, 64 tenants", ledger_pair(ledger), led_many, seconds, done, meter
            ),
        ]
    print(
        f"\nbilling: reserve + consume pairs, {CLIENTS} concurrent clients, {seconds:.0f} s per row, "
        f"{len(targets)} replica(s), pool {pool_size}, {flushers} flusher(s), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for result in results:
        print("  " + result.line())
    floor, grpc_rows, raw_rows = results[0], results[2:4], results[4:]
    for grpc_result, (per_call, grouped) in zip(grpc_rows, (raw_rows[0::2], raw_rows[1::2]), strict=True):
        print(
            f"  {grpc_result.name}: {100 * grpc_result.rate / per_call.rate:.0f} % of {per_call.name}, "
            f"{100 * grpc_result.rate / grouped.rate:.0f} % of {grouped.name}"
        )
    print(
        f"  no Python gRPC service exceeds the floor here: {floor.rate:,.0f} pairs/s of two calls that do nothing "
        f"({CLIENTS} clients in this process, a bare grpc.aio server)"
    )
    _verify(database_url, done)
    probe = await _overdraft_probe(stubs[0], metadata)
    assert probe == 100, f"{probe} holds of {PRICE} granted from {PRICE * 100 + 7} credits"
    print(
        f"  overdraft check: {sum(done.values()):,} pairs verified against balances and ledgers; "
        f"64 racing clients got exactly {probe} holds from 100 holds' worth of credits: zero overdrafts"
    )
    for ch in channels:
        await ch.close()


def start_floor() -> tuple[subprocess.Popen[bytes], str]:
    """A bare grpc.aio server (`grpc_floor`) on a free port, serving."""
    target = f"127.0.0.1:{pick_free_port()}"
    server = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.grpc_floor", target], cwd=REPO)
    deadline = time.monotonic() + 30
    while not grpc_serving(target, timeout=1.0):
        if server.poll() is not None or time.monotonic() > deadline:
            server.terminate()
            raise RuntimeError(f"the bare gRPC server on {target} did not start")
        time.sleep(0.1)
    return server, target


async def _floor(target: str, pid: int, tenants: list[str], seconds: float) -> Result:
    """Two health checks against the bare server: gRPC's own cost, with no service."""
    channels = [grpc.aio.insecure_channel(target) for _ in range(2)]
    meter = CpuMeter({"bench": [os.getpid()], "bare server": [pid]})
    await _drive("warm-up", health_pair(channels), tenants, 1.0, {})
    result = await _drive("gRPC floor (2 bare health checks)", health_pair(channels), tenants, seconds, {}, meter)
    for channel in channels:
        await channel.close()
    return result


def _svd(home: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "svd_stack", *args, "--home", str(home)], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"svd {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--pool", type=int, default=8, help="connections per billing process (and for raw)")
    parser.add_argument("--flushers", type=int, default=2, help="group-commit batches in flight per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp:
        home = Path(tmp)
        _svd(home, "up", "--only", "nats", "--only", "postgres")
        replicas: list[Replica] = []
        try:
            info = json.loads((home / "stack.json").read_text())
            keys = Keys()
            for _ in range(args.replicas):
                replicas.append(
                    start_replica(
                        info["database_url"],
                        info["nats_url"],
                        keys,
                        home / "logs",
                        database_pool_size=str(args.pool),
                        batch_flushers=str(args.flushers),
                    )
                )
            meter = CpuMeter(
                {
                    "bench": [os.getpid()],
                    "billing": [r.process.pid for r in replicas],
                    "postgres": [info["processes"]["postgres"]["pid"]],
                }
            )
            targets = [r.target for r in replicas]
            floor, floor_target = start_floor()
            try:
                asyncio.run(
                    bench(
                        targets,
                        keys,
                        info["database_url"],
                        args.seconds,
                        args.pool,
                        args.flushers,
                        meter,
                        floor,
                        floor_target,
                    )
                )
            finally:
                floor.terminate()
                floor.wait(10)
        finally:
            for replica in replicas:
                replica.stop()
            _svd(home, "down")


if __name__ == "__main__":
    main()
