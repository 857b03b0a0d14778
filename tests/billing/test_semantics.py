"""The Billing API's promises, against two real replicas: idempotency, at-most-once resolution, expiry, auth, paging."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from social_video.v1 import billing_pb2, common_pb2
from svd.ids import short_id
from svd.timeutil import to_timestamp
from tests.billing.conftest import CREDIT, Billing, Client

HELD, CONSUMED, RELEASED, EXPIRED = (
    billing_pb2.RESERVATION_STATE_HELD,
    billing_pb2.RESERVATION_STATE_CONSUMED,
    billing_pb2.RESERVATION_STATE_RELEASED,
    billing_pb2.RESERVATION_STATE_EXPIRED,
)


async def _fails(call: object, code: grpc.StatusCode, match: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    assert match in (info.value.details() or "")
    return info.value.details() or ""


async def _funded(client: Client, credits: int = 100) -> str:
    tenant = f"sem-{short_id(8)}"
    await client.grant(tenant, credits, "opening")
    return tenant


async def test_the_same_reserve_key_returns_the_same_hold_on_every_replica(admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    first = await admins[0].reserve(tenant, 25, "job-1:reserve", job="job-1")
    again = await asyncio.gather(*(c.reserve(tenant, 25, "job-1:reserve", job="job-1") for c in admins))
    assert {r.reservation.reservation_id for r in again} == {first.reservation.reservation_id}
    assert all(r.reservation.state == HELD and r.reservation.amount == 25 for r in again)
    balance = await admins[1].balance(tenant)
    assert (balance.balance, balance.held, balance.available) == (100, 25, 75)
    # Even once resolved, the key still names the same hold (a retry after a lost response learns the outcome).
    await admins[2].consume(first.reservation.reservation_id, 25)
    replay = await admins[3].reserve(tenant, 25, "job-1:reserve", job="job-1")
    assert replay.reservation.reservation_id == first.reservation.reservation_id
    assert replay.reservation.state == CONSUMED
    assert Counter(e.kind for e in await admins[0].ledger(tenant)) == {"grant": 1, "hold": 1, "consume": 1}


async def test_consume_releases_the_remainder_in_the_same_transaction(billing: Billing, admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    hold = (await admins[0].reserve(tenant, 25, "r")).reservation
    done = await admins[1].consume(hold.reservation_id, 12)
    assert done.reservation.state == CONSUMED and done.reservation.consumed_amount == 12
    assert (done.balance.balance, done.balance.held, done.balance.available) == (88, 0, 88)
    entries = [e for e in await admins[2].ledger(tenant) if e.reservation_id == hold.reservation_id]
    assert [(e.kind, e.amount, e.balance_after, e.held_after) for e in entries] == [
        ("hold", 25, 100, 25),
        ("consume", 12, 88, 0),  # the whole hold leaves `held` with the consume (its remainder is released)
        ("release", 13, 88, 0),
    ]
    with billing.sql() as conn:
        rows = conn.execute(
            "select kind, xmin::text from billing.ledger where reservation_id = %s and kind in ('consume', 'release')",
            (hold.reservation_id,),
        ).fetchall()
    assert len({xmin for _, xmin in rows}) == 1, "consume and the remainder's release must be one transaction"


async def test_repeated_consume_or_release_returns_the_final_state_and_changes_nothing(admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    consumed = (await admins[0].reserve(tenant, 15, "a")).reservation.reservation_id
    released = (await admins[0].reserve(tenant, 15, "b")).reservation.reservation_id
    await admins[0].consume(consumed, 15)
    await admins[0].release(released, "job failed")
    before = await admins[0].ledger(tenant)

    retries = await asyncio.gather(
        *(c.consume(consumed, 15) for c in admins), *(c.release(released, "retried") for c in admins)
    )
    assert [r.reservation.state for r in retries] == [CONSUMED] * 4 + [RELEASED] * 4
    assert all(r.reservation.reason == "job failed" for r in retries[4:])
    after = await admins[1].ledger(tenant)
    assert after == before
    balance = await admins[2].balance(tenant)
    assert (balance.balance, balance.held) == (85, 0)


async def test_consume_after_release_and_release_after_consume_fail_and_change_nothing(admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    consumed = (await admins[0].reserve(tenant, 15, "a")).reservation.reservation_id
    released = (await admins[0].reserve(tenant, 15, "b")).reservation.reservation_id
    await admins[1].consume(consumed, 15)
    await admins[1].release(released)
    before = (await admins[0].ledger(tenant), await admins[0].balance(tenant))

    await _fails(admins[2].release(consumed), grpc.StatusCode.FAILED_PRECONDITION, "already consumed; cannot release")
    await _fails(admins[3].consume(released, 15), grpc.StatusCode.FAILED_PRECONDITION, "already released")
    assert (await admins[0].ledger(tenant), await admins[0].balance(tenant)) == before


async def test_racing_consume_and_release_of_one_hold_resolve_it_once(admins: list[Client]) -> None:
    tenant = await _funded(admins[0], 1000)
    holds = [(await admins[0].reserve(tenant, 10, f"h{i}")).reservation.reservation_id for i in range(20)]
    calls = [admins[i % 4].consume(h, 10) for i, h in enumerate(holds)]
    calls += [admins[(i + 1) % 4].release(h, "race") for i, h in enumerate(holds)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for i, hold in enumerate(holds):
        consume, release = results[i], results[i + len(holds)]
        wins = [r for r in (consume, release) if not isinstance(r, BaseException)]
        assert len(wins) == 1, f"hold {hold}: {consume!r} / {release!r}"
        loser = consume if isinstance(consume, BaseException) else release
        assert isinstance(loser, grpc.aio.AioRpcError) and loser.code() == grpc.StatusCode.FAILED_PRECONDITION
    entries = await admins[1].ledger(tenant)
    resolutions = Counter(e.reservation_id for e in entries if e.kind != "hold" and e.reservation_id)
    assert set(resolutions.values()) == {1}
    balance = await admins[2].balance(tenant)
    consumed = sum(1 for r in results[: len(holds)] if not isinstance(r, BaseException))
    assert (balance.balance, balance.held) == (1000 - 10 * consumed, 0)


async def test_bad_requests(admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    hold = (await admins[0].reserve(tenant, 15, "x")).reservation.reservation_id
    await _fails(admins[0].consume(hold, 16), grpc.StatusCode.INVALID_ARGUMENT, "between 1 and the held 15")
    await _fails(admins[0].consume(hold, 0), grpc.StatusCode.INVALID_ARGUMENT)
    await _fails(admins[0].consume("no-such-hold", 1), grpc.StatusCode.NOT_FOUND)
    await _fails(admins[0].reserve(tenant, 0, "y"), grpc.StatusCode.INVALID_ARGUMENT)
    await _fails(admins[0].reserve(tenant, 5, ""), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key is required")
    await _fails(admins[0].reserve(tenant, 500, "z"), grpc.StatusCode.FAILED_PRECONDITION, "need 500, available 85")
    assert (await admins[0].balance(tenant)).held == 15


async def test_grant_is_admin_only_and_idempotent(billing: Billing, admins: list[Client]) -> None:
    tenant = billing.tenant_a
    own = Client(billing.replicas[0].target, billing.keys.tenants[tenant])
    try:
        await _fails(own.grant(tenant, 1000, "self-service"), grpc.StatusCode.PERMISSION_DENIED, "admin")
        start = (await own.balance(tenant)).balance
        key = f"invoice-{short_id(6)}"
        balances = await asyncio.gather(*(c.grant(tenant, 40, key) for c in admins))
        assert {b.balance for b in balances} == {start + 40}
        assert (await own.balance(tenant)).balance == start + 40
        assert sum(1 for e in await own.ledger(tenant) if e.kind == "grant" and e.amount == 40) == 1
    finally:
        await own.close()


async def test_a_tenant_key_sees_only_its_own_account(billing: Billing, admins: list[Client]) -> None:
    a, b = billing.tenant_a, billing.tenant_b
    await admins[0].grant(a, 50, f"a-{short_id(6)}")
    await admins[0].grant(b, 50, f"b-{short_id(6)}")
    tenant = Client(billing.replicas[1].target, billing.keys.tenants[a])
    try:
        assert (await tenant.balance(a)).tenant_id == a
        own = await tenant.stub.GetBalance(billing_pb2.GetBalanceRequest(), metadata=tenant.metadata)
        assert own.balance.tenant_id == a  # a tenant key needs not name its tenant
        assert all(e.tenant_id == a for e in await tenant.ledger(a))
        await _fails(tenant.balance(b), grpc.StatusCode.NOT_FOUND)
        await _fails(tenant.ledger(b), grpc.StatusCode.NOT_FOUND)
    finally:
        await tenant.close()
    anonymous = Client(billing.replicas[0].target, "not-a-key")
    try:
        await _fails(anonymous.balance(a), grpc.StatusCode.UNAUTHENTICATED)
    finally:
        await anonymous.close()


async def test_a_tenant_key_moves_no_credits_not_even_its_own(billing: Billing, admins: list[Client]) -> None:
    """Only the platform moves money: a tenant that releases or under-consumes its job's hold gets a free video."""
    a, b = billing.tenant_a, billing.tenant_b
    await admins[0].grant(a, 50, f"a-{short_id(6)}")
    own_hold = (await admins[0].reserve(a, 15, f"a-hold-{short_id(6)}", job="job-a")).reservation.reservation_id
    other_hold = (await admins[0].reserve(b, 5, f"b-hold-{short_id(6)}")).reservation.reservation_id
    tenant = Client(billing.replicas[1].target, billing.keys.tenants[a])
    rate = billing_pb2.SetRateRequest(provider_name="local", duration_seconds=5, credit_type=CREDIT, amount=50)
    quote = billing_pb2.QuoteRequest(provider_name="local", duration_seconds=5)
    try:
        before = (
            await tenant.balance(a),
            await tenant.ledger(a),
            await admins[0].balance(b),
            await admins[0].ledger(b),
        )
        quoted = (await tenant.stub.Quote(quote, metadata=tenant.metadata)).amount
        calls = [
            tenant.reserve(a, 5, f"self-{short_id(6)}"),
            tenant.reserve(b, 5, f"steal-{short_id(6)}"),
            tenant.consume(own_hold, 1),
            tenant.consume(own_hold, 15),
            tenant.release(own_hold, "free video"),
            tenant.consume(other_hold, 5),
            tenant.release(other_hold),
            tenant.grant(a, 1000, f"self-service-{short_id(6)}"),
            tenant.stub.SetRate(rate, metadata=tenant.metadata),
        ]
        for call in calls:
            await _fails(call, grpc.StatusCode.PERMISSION_DENIED, "needs an admin or service API key")
        after = (await tenant.balance(a), await tenant.ledger(a), await admins[0].balance(b), await admins[0].ledger(b))
        assert after == before
        assert (await tenant.stub.Quote(quote, metadata=tenant.metadata)).amount == quoted
    finally:
        await tenant.close()
    # The holds are untouched: the platform still resolves them, once.
    done = await admins[1].consume(own_hold, 15)
    assert (done.reservation.state, done.reservation.consumed_amount) == (CONSUMED, 15)
    assert (await admins[1].release(other_hold)).reservation.state == RELEASED


async def test_a_replayed_consume_must_name_the_first_amount(admins: list[Client]) -> None:
    tenant = await _funded(admins[0])
    hold = (await admins[0].reserve(tenant, 25, "job")).reservation.reservation_id
    first = await admins[1].consume(hold, 15)
    before = (await admins[0].ledger(tenant), await admins[0].balance(tenant))
    replay = await admins[2].consume(hold, 15)  # the same call retried: idempotent
    assert (replay.reservation.state, replay.reservation.consumed_amount) == (CONSUMED, 15)
    assert replay.balance == first.balance
    for other in (1, 14, 16, 25):
        await _fails(
            admins[3].consume(hold, other),
            grpc.StatusCode.FAILED_PRECONDITION,
            f"already consumed for 15 credits; a retry must consume the same amount, not {other}",
        )
    assert (await admins[0].ledger(tenant), await admins[0].balance(tenant)) == before
    assert (before[1].balance, before[1].held) == (85, 0)


async def test_a_free_rate_is_refused(admins: list[Client]) -> None:
    admin = admins[0]
    quote = billing_pb2.QuoteRequest(provider=common_pb2.VIDEO_PROVIDER_KLING, duration_seconds=5)
    free = billing_pb2.SetRateRequest(
        provider=common_pb2.VIDEO_PROVIDER_KLING, duration_seconds=5, credit_type=CREDIT, amount=0
    )
    await _fails(admin.stub.SetRate(free, metadata=admin.metadata), grpc.StatusCode.INVALID_ARGUMENT, "at least 1")
    assert (await admins[1].stub.Quote(quote, metadata=admins[1].metadata)).amount == 12


def test_the_rates_table_refuses_a_free_rate(billing: Billing) -> None:
    with billing.sql() as conn, pytest.raises(psycopg.errors.CheckViolation, match="rate_at_least_one"):
        with conn.transaction(force_rollback=True):  # never leave a free rate behind for the other tests
            conn.execute("update billing.rates set amount = 0 where provider = 'kling' and duration_seconds = 5")


async def test_rates_are_quoted_from_the_table_and_only_admins_change_them(
    billing: Billing, admins: list[Client]
) -> None:
    admin = admins[0]
    quote = billing_pb2.QuoteRequest(provider=common_pb2.VIDEO_PROVIDER_KLING, duration_seconds=10)
    assert (await admin.stub.Quote(quote, metadata=admin.metadata)).amount == 22
    local = billing_pb2.QuoteRequest(provider_name="local", duration_seconds=5)
    assert (await admin.stub.Quote(local, metadata=admin.metadata)).amount == 1
    tenant = Client(billing.replicas[1].target, billing.keys.tenants[billing.tenant_a])
    change = billing_pb2.SetRateRequest(provider_name="local", duration_seconds=5, credit_type=CREDIT, amount=3)
    try:
        await _fails(tenant.stub.SetRate(change, metadata=tenant.metadata), grpc.StatusCode.PERMISSION_DENIED)
        rate = (await admin.stub.SetRate(change, metadata=admin.metadata)).rate
        assert (rate.provider_name, rate.amount, rate.updated_by) == ("local", 3, "admin")
        assert (await tenant.stub.Quote(local, metadata=tenant.metadata)).amount == 3  # the other replica too
        rates = (await tenant.stub.ListRates(billing_pb2.ListRatesRequest(), metadata=tenant.metadata)).rates
        table = {(r.provider_name, r.duration_seconds): r.amount for r in rates}
        assert table[("runway", 5)] == 15 and table[("runway", 10)] == 25 and table[("kling", 5)] == 12
        unknown = billing_pb2.QuoteRequest(provider_name="sora", duration_seconds=5)
        await _fails(admin.stub.Quote(unknown, metadata=admin.metadata), grpc.StatusCode.NOT_FOUND, "no rate")
    finally:
        restore = billing_pb2.SetRateRequest(provider_name="local", duration_seconds=5, credit_type=CREDIT, amount=1)
        await admin.stub.SetRate(restore, metadata=admin.metadata)
        await tenant.close()


async def test_holds_past_their_ttl_expire_once_across_replicas(billing: Billing, admins: list[Client]) -> None:
    tenants = [await _funded(admins[0], 100) for _ in range(8)]
    holds = await asyncio.gather(
        *(admins[(i + j) % 4].reserve(t, 7, f"short-{j}", ttl=1) for i, t in enumerate(tenants) for j in range(10))
    )
    ids = {h.reservation.reservation_id for h in holds}
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        with billing.sql() as conn:
            left = conn.execute(
                "select count(*) from billing.holds where reservation_id = any(%s) and state = 'held'", (list(ids),)
            ).fetchone()
        if left == (0,):
            break
        assert asyncio.get_running_loop().time() < deadline, f"{left} holds still held"
        await asyncio.sleep(0.2)
    for tenant in tenants:
        balance = await admins[1].balance(tenant)
        assert (balance.balance, balance.held, balance.available) == (100, 0, 100)
        kinds = Counter(e.kind for e in await admins[2].ledger(tenant))
        assert kinds == {"grant": 1, "hold": 10, "expire": 10}
    expired = next(iter(ids))
    await _fails(admins[3].consume(expired, 7), grpc.StatusCode.FAILED_PRECONDITION, "already expired")
    assert (await admins[3].release(expired)).reservation.state == EXPIRED  # a late release is a no-op


async def test_ledger_window_and_pages(admins: list[Client]) -> None:
    tenant = await _funded(admins[0], 1000)
    for i in range(7):
        hold = (await admins[i % 4].reserve(tenant, 10, f"p{i}")).reservation.reservation_id
        await admins[(i + 1) % 4].consume(hold, 10)
    everything = await admins[0].ledger(tenant, page=1000)
    assert len(everything) == 15
    assert [e.entry_id for e in await admins[1].ledger(tenant, page=4)] == [e.entry_id for e in everything]
    assert everything[-1].balance_after == 930
    middle = everything[5].created_at.ToDatetime(tzinfo=UTC)
    later = await admins[2].ledger(tenant, page=3, start_time=to_timestamp(middle))
    assert later and all(e.created_at.ToDatetime(tzinfo=UTC) >= middle for e in later)
    future = to_timestamp(datetime.now(UTC) + timedelta(hours=1))
    assert await admins[2].ledger(tenant, start_time=future) == []
    past = to_timestamp(datetime.now(UTC) - timedelta(hours=1))
    assert await admins[2].ledger(tenant, end_time=past) == []
    bad = billing_pb2.ListLedgerRequest(tenant_id=tenant, page_token="not-a-token")
    await _fails(admins[3].stub.ListLedger(bad, metadata=admins[3].metadata), grpc.StatusCode.INVALID_ARGUMENT)


def test_the_ledger_is_append_only(billing: Billing) -> None:
    with billing.sql() as conn:
        for statement in ("update billing.ledger set amount = 0", "delete from billing.ledger"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
