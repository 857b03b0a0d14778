"""Model-based test: random programs of grant / reserve / consume / release / expire and retried calls.

Each program runs in batches; the calls of one batch are issued concurrently by four clients spread over two billing
replicas (a call may be duplicated on another client, as a retry racing its original). After every batch the
service is checked against a simple in-memory model: balances equal, available never negative (now and at every
point of the ledger's history), every hold resolved at most once and the way the calls' answers say, retries
answering the first outcome (a consume naming another amount than the first is refused), and the ledger summing
to the balance.

Expiry is driven by moving a hold's deadline into the past in the database; the replicas' own sweepers expire it.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from social_video.v1 import billing_pb2
from svd.ids import short_id
from tests.billing.conftest import Billing, Client

TENANTS = 2
RESERVE_KEYS = 6
GRANT_KEYS = 3
OPENING = 50
STATE_NAME = {
    billing_pb2.RESERVATION_STATE_HELD: "held",
    billing_pb2.RESERVATION_STATE_CONSUMED: "consumed",
    billing_pb2.RESERVATION_STATE_RELEASED: "released",
    billing_pb2.RESERVATION_STATE_EXPIRED: "expired",
}
INSUFFICIENT = re.compile(r"insufficient credits: need (\d+), available (-?\d+)")
MISMATCH = re.compile(r"reservation \S+ is already consumed for (\d+) credits; a retry must consume the same amount.*")

tenant_ix = st.integers(0, TENANTS - 1)
hold_ix = st.integers(0, 40)
operation = st.one_of(
    st.tuples(st.just("grant"), tenant_ix, st.integers(0, GRANT_KEYS - 1)),
    st.tuples(st.just("reserve"), tenant_ix, st.integers(0, RESERVE_KEYS - 1), st.integers(1, 40)),
    st.tuples(st.just("consume"), hold_ix, st.integers(1, 45)),
    st.tuples(st.just("release"), hold_ix),
    st.tuples(st.just("expire"), hold_ix),
)
# (operation, client index, also sent as a concurrent retry on another client?)
call = st.tuples(operation, st.integers(0, 3), st.booleans())
program = st.lists(st.lists(call, min_size=1, max_size=6), min_size=1, max_size=8)


def grant_amount(key: int) -> int:
    """Grants with one key are one request retried, so the amount follows from the key."""
    return 20 * (key + 1)


@dataclass
class ModelHold:
    tenant: str
    amount: int
    state: str = "held"
    consumed: int = 0


@dataclass
class Model:
    tenants: list[str]
    granted: dict[str, int] = field(default_factory=dict)
    grant_keys: set[tuple[str, int]] = field(default_factory=set)
    holds: dict[str, ModelHold] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    reserve_keys: dict[tuple[str, int], str] = field(default_factory=dict)

    def balance(self, tenant: str) -> int:
        spent = sum(h.consumed for h in self.holds.values() if h.tenant == tenant and h.state == "consumed")
        return self.granted[tenant] - spent

    def held(self, tenant: str) -> int:
        return sum(h.amount for h in self.holds.values() if h.tenant == tenant and h.state == "held")

    def hold_at(self, index: int) -> str | None:
        return self.order[index % len(self.order)] if self.order else None


@pytest.fixture(scope="module")
async def clients(billing: Billing) -> AsyncIterator[list[Client]]:
    made = [Client(r.target, billing.keys.admin) for r in billing.replicas for _ in range(2)]
    yield made
    for client in made:
        await client.close()


async def _outcome(call: Any) -> Any:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        return exc


async def _expire(billing: Billing, reservation_id: str) -> str:
    """Move the hold's deadline into the past and wait until a replica's sweeper (or a racing call) resolves it."""
    with billing.sql() as conn:
        conn.execute(
            "update billing.holds set expires_at = now() - interval '1 second'"
            " where reservation_id = %s and state = 'held'",
            (reservation_id,),
        )
    for _ in range(200):
        with billing.sql() as conn:
            row = conn.execute(
                "select state from billing.holds where reservation_id = %s", (reservation_id,)
            ).fetchone()
        assert row is not None
        if row[0] != "held":
            return str(row[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"hold {reservation_id} past its TTL was not expired within 10 s")


async def _run_batch(billing: Billing, clients: list[Client], model: Model, batch: list[Any]) -> None:
    calls: list[tuple[tuple[Any, ...], Any]] = []
    for op, client_ix, duplicated in batch:
        kind = op[0]
        targets = [clients[client_ix], clients[(client_ix + 1) % 4]] if duplicated else [clients[client_ix]]
        if kind in ("consume", "release", "expire"):
            rid = model.hold_at(op[1])
            if rid is None:
                continue
            resolved = (kind, rid, *op[2:])
        else:
            resolved = (kind, model.tenants[op[1]], *op[2:])
        for client in targets:
            if kind == "grant":
                coro = client.grant(resolved[1], grant_amount(resolved[2]), f"g{resolved[2]}")
            elif kind == "reserve":
                coro = client.reserve(resolved[1], resolved[3], f"k{resolved[2]}", job=f"job-{resolved[2]}")
            elif kind == "consume":
                coro = client.consume(resolved[1], resolved[2])
            elif kind == "release":
                coro = client.release(resolved[1], "model release")
            else:
                coro = _expire(billing, resolved[1])
            calls.append((resolved, coro))
            if kind == "expire":
                break  # one deadline move is enough
    available_before = {t: model.balance(t) - model.held(t) for t in model.tenants}
    results = await asyncio.gather(*(_outcome(coro) for _, coro in calls))
    _apply(model, [(op, result) for (op, _), result in zip(calls, results, strict=True)], available_before)


def _apply(model: Model, outcomes: list[tuple[tuple[Any, ...], Any]], available_before: dict[str, int]) -> None:
    """Check each answer against the model and fold the batch into it."""
    keys_before = dict(model.reserve_keys)
    seen: dict[str, set[str]] = defaultdict(set)  # hold → final states its successful calls reported
    failures: list[tuple[str, str, Any]] = []
    granted: dict[str, int] = defaultdict(int)
    new_holds: dict[str, int] = defaultdict(int)
    for op, result in outcomes:
        kind = op[0]
        if kind == "grant":
            assert not isinstance(result, Exception), result
            if (op[1], op[2]) not in model.grant_keys:
                model.grant_keys.add((op[1], op[2]))
                model.granted[op[1]] += grant_amount(op[2])
                granted[op[1]] += grant_amount(op[2])
        elif kind == "reserve":
            tenant, key, amount = op[1], op[2], op[3]
            known = model.reserve_keys.get((tenant, key))
            if isinstance(result, grpc.aio.AioRpcError):
                assert result.code() == grpc.StatusCode.FAILED_PRECONDITION, result.details()
                match = INSUFFICIENT.fullmatch(result.details() or "")
                assert match, result.details()
                assert int(match[1]) == amount and 0 <= int(match[2]) < amount
                assert (tenant, key) not in keys_before, (
                    "a retried reserve must answer its hold, not re-check the credits"
                )
                failures.append(("reserve", tenant, int(match[2])))
                continue
            hold = result.reservation
            assert (hold.tenant_id, hold.job_id) == (tenant, f"job-{key}")
            if known is not None:
                assert hold.reservation_id == known, "the same key must name the same hold"
                assert hold.amount == model.holds[known].amount
            else:
                model.reserve_keys[(tenant, key)] = hold.reservation_id
                model.holds[hold.reservation_id] = ModelHold(tenant, hold.amount)
                model.order.append(hold.reservation_id)
                new_holds[tenant] += hold.amount
            seen[hold.reservation_id].add(STATE_NAME[hold.state])
        elif kind == "expire":
            assert isinstance(result, str), result
            seen[op[1]].add(result)
        else:
            rid = op[1]
            if isinstance(result, grpc.aio.AioRpcError):
                if result.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    assert kind == "consume" and op[2] > model.holds[rid].amount, result.details()
                    continue
                assert result.code() == grpc.StatusCode.FAILED_PRECONDITION, result.details()
                mismatch = MISMATCH.fullmatch(result.details() or "") if kind == "consume" else None
                if mismatch:
                    failures.append(("consume-other-amount", rid, (int(mismatch[1]), op[2])))
                else:
                    failures.append((kind, rid, None))
                continue
            hold = result.reservation
            state = STATE_NAME[hold.state]
            assert hold.reservation_id == rid
            if kind == "consume":
                assert state == "consumed", state
                assert hold.consumed_amount == op[2], "a consume answers only for the amount it names"
                if model.holds[rid].state == "consumed":
                    assert hold.consumed_amount == model.holds[rid].consumed, "a retry answers the first outcome"
                model.holds[rid].consumed = hold.consumed_amount
            else:
                assert state in ("released", "expired"), state
            seen[rid].add(state)
    for rid, states in seen.items():
        hold = model.holds[rid]
        final = states - {"held"}
        assert len(final) <= 1, f"hold {rid} resolved more than one way: {states}"
        if hold.state != "held":
            assert final <= {hold.state}, f"resolved hold {rid} ({hold.state}) changed to {final}"
        elif final:
            hold.state = next(iter(final))
    for kind, subject, detail in failures:
        if kind == "reserve":
            available = detail
            tenant = subject
            low = available_before[tenant] - new_holds[tenant]
            high = (
                available_before[tenant]
                + granted[tenant]
                + sum(h.amount for r, h in model.holds.items() if h.tenant == tenant and r in seen)
            )
            assert low <= available <= high, f"insufficient with {available} available, not in [{low}, {high}]"
        elif kind == "consume":
            assert model.holds[subject].state in ("released", "expired"), f"consume of {subject} refused"
        elif kind == "consume-other-amount":
            first, requested = detail
            hold = model.holds[subject]
            assert hold.state == "consumed" and hold.consumed == first != requested, (
                f"consume of {subject} for {requested} refused as a replay of {first}: model {hold}"
            )
        else:
            assert model.holds[subject].state == "consumed", f"release of {subject} refused"


async def _check(model: Model, client: Client) -> None:
    """The service equals the model; the ledger sums to the balance and resolves each hold at most once."""
    for tenant in model.tenants:
        balance = await client.balance(tenant)
        assert (balance.balance, balance.held) == (model.balance(tenant), model.held(tenant))
        assert balance.available == balance.balance - balance.held >= 0
        entries = await client.ledger(tenant, page=7)
        sums: Counter[str] = Counter()
        for entry in entries:
            sums[entry.kind] += entry.amount
            assert 0 <= entry.held_after <= entry.balance_after, "available went negative at some point"
        assert sums["grant"] - sums["consume"] == balance.balance
        assert sums["hold"] - sums["consume"] - sums["release"] - sums["expire"] == balance.held
        if entries:
            assert (entries[-1].balance_after, entries[-1].held_after) == (balance.balance, balance.held)
        per_hold: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for entry in entries:
            if entry.reservation_id:
                per_hold[entry.reservation_id].append((entry.kind, entry.amount))
        mine = {rid: h for rid, h in model.holds.items() if h.tenant == tenant}
        assert set(per_hold) == set(mine)
        for rid, hold in mine.items():
            expected = [("hold", hold.amount)]
            if hold.state == "consumed":
                expected.append(("consume", hold.consumed))
                if hold.consumed < hold.amount:
                    expected.append(("release", hold.amount - hold.consumed))
            elif hold.state in ("released", "expired"):
                expected.append(("release" if hold.state == "released" else "expire", hold.amount))
            assert per_hold[rid] == expected, f"hold {rid} ({hold.state}): ledger {per_hold[rid]}"


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches=program)
async def test_random_programs_match_the_model(billing: Billing, clients: list[Client], batches: list[Any]) -> None:
    run = short_id(8)
    model = Model([f"model-{run}-{i}" for i in range(TENANTS)])
    for tenant in model.tenants:
        await clients[0].grant(tenant, OPENING, "opening")
        model.granted[tenant] = OPENING
    await _check(model, clients[1])
    for batch in batches:
        await _run_batch(billing, clients, model, batch)
        await _check(model, clients[2])
