"""Contention: many concurrent holds on one account, across two replicas, never overdraw it."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc

from svd.ids import short_id
from tests.billing.conftest import Billing, Client


async def test_64_concurrent_reserves_of_15_on_100_credits_exactly_6_succeed(
    billing: Billing, admins: list[Client]
) -> None:
    tenant = f"contend-{short_id(8)}"
    await admins[0].grant(tenant, 100, "grant-1")
    # 64 independent callers: one channel each, alternating between the two replicas.
    callers = [Client(billing.replicas[i % 2].target, billing.keys.admin) for i in range(64)]
    try:
        results = await asyncio.gather(
            *(c.reserve(tenant, 15, f"job-{i}", job=f"job-{i}") for i, c in enumerate(callers)),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(c.close() for c in callers))

    succeeded = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(succeeded) == 6
    assert len(failed) == 58
    errors = Counter((e.code(), e.details()) for e in failed)
    assert errors == {(grpc.StatusCode.FAILED_PRECONDITION, "insufficient credits: need 15, available 10"): 58}
    assert len({r.reservation.reservation_id for r in succeeded}) == 6

    balance = await admins[1].balance(tenant)
    assert (balance.balance, balance.held, balance.available) == (100, 90, 10)
    kinds = Counter(e.kind for e in await admins[2].ledger(tenant))
    assert kinds == {"grant": 1, "hold": 6}
