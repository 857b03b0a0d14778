"""Fixtures for billing tests: two real billing replicas (their sweepers running fast) on the stack's PostgreSQL.

The replicas share one database, as production replicas do; tests spread their calls over both so that races
between replicas (and between their hold sweepers) are part of every test. Keys: one admin key and tenant keys for
two tenants made up for the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import psycopg
import pytest

from social_video.v1 import billing_pb2, billing_pb2_grpc
from svd.ids import short_id
from tests.billing.replicas import Keys, Replica, start_replica
from tests.conftest import RunningStack

CREDIT = "ai_video_generation"


@dataclass
class Billing:
    keys: Keys
    replicas: list[Replica]
    database_url: str
    tenant_a: str
    tenant_b: str

    def sql(self) -> psycopg.Connection:
        """A direct connection to billing's database (for checks the API does not expose)."""
        return psycopg.connect(self.database_url.replace("+psycopg", ""), autocommit=True)


@pytest.fixture(scope="session")
def billing(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    info = stack.info
    keys = Keys()
    tenant_a, tenant_b = f"ta-{short_id(8)}", f"tb-{short_id(8)}"
    keys.for_tenant(tenant_a)
    keys.for_tenant(tenant_b)
    logs = tmp_path_factory.mktemp("billing-logs")
    replicas: list[Replica] = []
    try:
        for _ in range(2):
            replicas.append(start_replica(info["database_url"], info["nats_url"], keys, logs, sweep_interval_s="0.1"))
        yield Billing(keys, replicas, info["database_url"], tenant_a, tenant_b)
    finally:
        for replica in replicas:
            replica.stop()
        for replica in replicas:
            assert "hold sweep failed" not in replica.log.read_text(), f"sweeper error in {replica.log}"


class Client:
    """A billing client (one channel to one replica) that authenticates with one key."""

    def __init__(self, target: str, api_key: str) -> None:
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = billing_pb2_grpc.BillingStub(self.channel)
        self.metadata = (("authorization", f"Bearer {api_key}"),)

    async def reserve(
        self, tenant: str, amount: int, key: str, job: str = "", ttl: int = 3600
    ) -> billing_pb2.ReserveResponse:
        request = billing_pb2.ReserveRequest(
            tenant_id=tenant, credit_type=CREDIT, amount=amount, idempotency_key=key, job_id=job, ttl_seconds=ttl
        )
        return await self.stub.Reserve(request, metadata=self.metadata)

    async def consume(self, reservation_id: str, amount: int) -> billing_pb2.ConsumeResponse:
        request = billing_pb2.ConsumeRequest(reservation_id=reservation_id, amount=amount)
        return await self.stub.Consume(request, metadata=self.metadata)

    async def release(self, reservation_id: str, reason: str = "test") -> billing_pb2.ReleaseResponse:
        request = billing_pb2.ReleaseRequest(reservation_id=reservation_id, reason=reason)
        return await self.stub.Release(request, metadata=self.metadata)

    async def grant(self, tenant: str, amount: int, key: str) -> billing_pb2.Balance:
        request = billing_pb2.GrantRequest(
            tenant_id=tenant, credit_type=CREDIT, amount=amount, idempotency_key=key, reason="test grant"
        )
        return (await self.stub.Grant(request, metadata=self.metadata)).balance

    async def balance(self, tenant: str) -> billing_pb2.Balance:
        request = billing_pb2.GetBalanceRequest(tenant_id=tenant, credit_type=CREDIT)
        return (await self.stub.GetBalance(request, metadata=self.metadata)).balance

    async def ledger(self, tenant: str, page: int = 100, **window: object) -> list[billing_pb2.LedgerEntry]:
        """Every entry of the tenant's account (in `window`), following the pages."""
        entries: list[billing_pb2.LedgerEntry] = []
        token = ""
        while True:
            request = billing_pb2.ListLedgerRequest(
                tenant_id=tenant,
                credit_type=CREDIT,
                limit=page,
                page_token=token,
                **window,  # type: ignore[arg-type]
            )
            response = await self.stub.ListLedger(request, metadata=self.metadata)
            entries.extend(response.entries)
            token = response.next_page_token
            if not token:
                return entries

    async def close(self) -> None:
        await self.channel.close()


@pytest.fixture
async def admins(billing: Billing) -> AsyncIterator[list[Client]]:
    """Four admin clients: two channels to each replica."""
    clients = [Client(r.target, billing.keys.admin) for r in billing.replicas for _ in range(2)]
    yield clients
    for client in clients:
        await client.close()
