"""Billing use cases over PostgreSQL: each credit movement is a call of a server-side function.

`reserve`, `consume`, `release`, `grant_credits` and `expire_due` (migration 0002) lock the account row before
reading or writing a hold, so concurrent calls on one account are serialised and can never overdraw; idempotency keys
and hold states make a retried call return the first outcome instead of moving credits twice. Every call is a single
statement on an autocommit connection with a prepared plan: one round trip, one transaction. Holds, consumes and
releases that arrive together share one transaction (`billing.batcher`, group commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from billing import domain
from billing.batcher import Batcher, Movement
from billing.domain import Balance, Hold, HoldState, Outcome, Rate
from svd.errors import NotFound, Unavailable
from svd.telemetry import metrics

_GRANT = "SELECT * FROM billing.grant_credits(%s, %s, %s, %s, %s)"
_EXPIRE = "SELECT billing.expire_due(%s)"
_BALANCE = "SELECT balance, held FROM billing.accounts WHERE tenant_id = %s AND credit_type = %s"
_QUOTE = "SELECT credit_type, amount FROM billing.rates WHERE provider = %s AND duration_seconds = %s"
_RATES = "SELECT * FROM billing.rates ORDER BY provider, duration_seconds"
_SET_RATE = """INSERT INTO billing.rates AS r (provider, duration_seconds, credit_type, amount, updated_at, updated_by)
VALUES (%s, %s, %s, %s, now(), %s)
ON CONFLICT (provider, duration_seconds) DO UPDATE
SET credit_type = EXCLUDED.credit_type, amount = EXCLUDED.amount, updated_at = now(), updated_by = EXCLUDED.updated_by
RETURNING *"""
_ENTRIES = """SELECT * FROM billing.ledger
WHERE tenant_id = %s AND credit_type = %s AND entry_id > %s
  AND created_at >= coalesce(%s::timestamptz, '-infinity') AND created_at < coalesce(%s::timestamptz, 'infinity')
ORDER BY entry_id LIMIT %s"""


def _hold(row: Any) -> Hold:
    return Hold(
        row.o_reservation_id,
        row.o_tenant_id,
        row.o_credit_type,
        row.o_amount,
        HoldState(row.o_state),
        row.o_job_id,
        row.o_consumed,
        row.o_reason,
        row.o_created_at,
        row.o_expires_at,
    )


class Ledger:
    """The billing use cases over one connection pool."""

    def __init__(self, pool: AsyncConnectionPool, flushers: int = 2) -> None:
        self._pool = pool
        self._batcher = Batcher(pool, flushers)

    async def _fetch(self, query: str, params: Sequence[Any]) -> list[Any]:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()
        except psycopg.OperationalError as exc:
            raise Unavailable(f"billing database unavailable: {exc}") from exc

    async def _one(self, query: str, params: Sequence[Any]) -> Any:
        return (await self._fetch(query, params))[0]

    async def reserve(
        self, tenant_id: str, credit_type: str, amount: int, idempotency_key: str, job_id: str, ttl_s: int
    ) -> tuple[Hold, Balance]:
        """Hold `amount` credits; the same idempotency key always answers the same hold."""
        credit_type = domain.check_credit_type(credit_type)
        domain.check_required(tenant_id=tenant_id, idempotency_key=idempotency_key)
        domain.check_amount(amount)
        domain.check_ttl(ttl_s)
        row = await self._batcher.apply(
            Movement("reserve", tenant_id, credit_type, amount, idempotency_key, job_id, ttl_s)
        )
        if row.o_outcome == Outcome.INSUFFICIENT:
            raise domain.insufficient(amount, row.o_balance - row.o_held)
        hold = _hold(row)
        if row.o_outcome == Outcome.OK:
            credits_moved(hold, "reserve")
        return hold, Balance(tenant_id, credit_type, row.o_balance, row.o_held)

    async def consume(self, reservation_id: str, amount: int, tenant: str | None = None) -> tuple[Hold, Balance]:
        """Spend `amount` of a hold and release the rest, once; a replay must name the same amount.

        `tenant`, if given, limits which holds may be named (the API lets only the platform consume, so it passes
        None).
        """
        domain.check_required(reservation_id=reservation_id)
        return await self._resolve(Movement("consume", reservation_id, amount=amount, tenant=tenant))

    async def release(self, reservation_id: str, reason: str, tenant: str | None = None) -> tuple[Hold, Balance]:
        """Give a hold's credits back, once."""
        domain.check_required(reservation_id=reservation_id)
        return await self._resolve(Movement("release", reservation_id, text=reason, tenant=tenant))

    async def _resolve(self, movement: Movement) -> tuple[Hold, Balance]:
        row = await self._batcher.apply(movement)
        outcome = Outcome(row.o_outcome)
        if outcome not in (Outcome.OK, Outcome.SAME):
            raise domain.hold_error(
                outcome, movement.ref, movement.kind, row.o_state, row.o_amount, row.o_consumed, movement.amount
            )
        hold = _hold(row)
        if outcome == Outcome.OK:
            credits_moved(hold, movement.kind)
        return hold, Balance(row.o_tenant_id, row.o_credit_type, row.o_balance, row.o_held)

    async def grant(self, tenant_id: str, credit_type: str, amount: int, idempotency_key: str, reason: str) -> Balance:
        """Add credits once per idempotency key."""
        credit_type = domain.check_credit_type(credit_type)
        domain.check_required(tenant_id=tenant_id, idempotency_key=idempotency_key)
        domain.check_amount(amount)
        row = await self._one(_GRANT, (tenant_id, credit_type, amount, idempotency_key, reason))
        return Balance(tenant_id, credit_type, row.o_balance, row.o_held)

    async def balance(self, tenant_id: str, credit_type: str) -> Balance:
        credit_type = domain.check_credit_type(credit_type)
        rows = await self._fetch(_BALANCE, (tenant_id, credit_type))
        return Balance(tenant_id, credit_type, rows[0].balance if rows else 0, rows[0].held if rows else 0)

    async def entries(
        self, tenant_id: str, credit_type: str, start: datetime | None, end: datetime | None, limit: int, after: int
    ) -> list[Any]:
        """Ledger entries of one account in `[start, end)` after entry `after`, oldest first.

        Entry ids of one account grow in commit order (they are written under the account's lock), so paging by
        the last id seen never skips an entry.
        """
        credit_type = domain.check_credit_type(credit_type)
        return await self._fetch(_ENTRIES, (tenant_id, credit_type, after, start, end, limit))

    async def quote(self, provider: str, duration_seconds: int) -> tuple[str, int]:
        rows = await self._fetch(_QUOTE, (provider, duration_seconds))
        if not rows:
            raise NotFound(f"no rate for {provider} {duration_seconds}s")
        return str(rows[0].credit_type), int(rows[0].amount)

    async def rates(self) -> list[Rate]:
        return [_rate(row) for row in await self._fetch(_RATES, ())]

    async def set_rate(self, provider: str, duration_seconds: int, credit_type: str, amount: int, by: str) -> Rate:
        """Create or change the rate of (provider, duration); takes effect for the next quote."""
        credit_type = domain.check_credit_type(credit_type)
        domain.check_rate(provider, duration_seconds, amount)
        return _rate(await self._one(_SET_RATE, (provider, duration_seconds, credit_type, amount, by)))

    async def expire_due(self, accounts: int = 100) -> int:
        """Expire holds past their TTL on up to `accounts` accounts; accounts locked elsewhere are left for later."""
        return int((await self._one(_EXPIRE, (accounts,)))[0])


def credits_moved(hold: Hold, kind: str) -> None:
    """Count the credits a movement that happened (not a replay) reserved, consumed or gave back."""
    labels = {"credit_type": hold.credit_type}
    if kind == "reserve":
        metrics.credits.add(hold.amount, {**labels, "movement": "reserved"})
    elif kind == "consume":
        metrics.credits.add(hold.consumed_amount, {**labels, "movement": "consumed"})
        metrics.credits.add(hold.amount - hold.consumed_amount, {**labels, "movement": "released"})
    elif kind == "release":
        metrics.credits.add(hold.amount, {**labels, "movement": "released"})


def _rate(row: Any) -> Rate:
    return Rate(row.provider, row.duration_seconds, row.credit_type, row.amount, row.updated_at, row.updated_by)
