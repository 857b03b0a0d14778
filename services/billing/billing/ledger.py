"""Billing use cases: every credit movement in one transaction, under the account's row lock.

The account row is locked (`SELECT … FOR UPDATE`) before any hold is read or written, so concurrent calls on one
tenant are serialised and can never overdraw; idempotency keys and hold states make retried calls return the first
outcome instead of moving credits twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import domain
from billing.domain import AccountState, EntryKind, HoldState
from billing.models import accounts, holds, ledger, rates
from svd.db import transaction
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.ids import new_id


@dataclass(frozen=True)
class Balance:
    tenant_id: str
    credit_type: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True)
class Hold:
    reservation_id: str
    tenant_id: str
    credit_type: str
    amount: int
    state: HoldState
    job_id: str
    consumed_amount: int
    reason: str
    created_at: datetime
    expires_at: datetime


def _hold(row: Any) -> Hold:
    return Hold(
        row.reservation_id,
        row.tenant_id,
        row.credit_type,
        row.amount,
        HoldState(row.state),
        row.job_id,
        row.consumed_amount,
        row.reason,
        row.created_at,
        row.expires_at,
    )


class Ledger:
    """The billing use cases over one database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _lock_account(self, session: AsyncSession, tenant_id: str, credit_type: str) -> AccountState:
        await session.execute(
            pg_insert(accounts)
            .values(tenant_id=tenant_id, credit_type=credit_type, balance=0, held=0)
            .on_conflict_do_nothing()
        )
        row = (
            await session.execute(
                select(accounts.c.balance, accounts.c.held)
                .where(accounts.c.tenant_id == tenant_id, accounts.c.credit_type == credit_type)
                .with_for_update()
            )
        ).one()
        return AccountState(row.balance, row.held)

    async def _write(
        self,
        session: AsyncSession,
        tenant_id: str,
        credit_type: str,
        state: AccountState,
        kind: EntryKind,
        amount: int,
        *,
        reservation_id: str | None = None,
        job_id: str = "",
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> None:
        await session.execute(
            update(accounts)
            .where(accounts.c.tenant_id == tenant_id, accounts.c.credit_type == credit_type)
            .values(balance=state.balance, held=state.held, updated_at=datetime.now(UTC))
        )
        await session.execute(
            insert(ledger).values(
                tenant_id=tenant_id,
                credit_type=credit_type,
                kind=kind.value,
                amount=amount,
                balance_after=state.balance,
                held_after=state.held,
                reservation_id=reservation_id,
                job_id=job_id,
                reason=reason,
                idempotency_key=idempotency_key,
            )
        )

    async def reserve(
        self, tenant_id: str, credit_type: str, amount: int, idempotency_key: str, job_id: str, ttl_s: int
    ) -> tuple[Hold, Balance]:
        credit_type = domain.check_credit_type(credit_type)
        if not tenant_id or not idempotency_key:
            raise InvalidArgument("tenant_id and idempotency_key are required")
        domain.check_positive(ttl_s, "ttl_seconds")
        async with transaction(self._sessions) as session:
            account = await self._lock_account(session, tenant_id, credit_type)
            existing = (
                await session.execute(
                    select(holds).where(holds.c.tenant_id == tenant_id, holds.c.idempotency_key == idempotency_key)
                )
            ).first()
            if existing is not None:
                return _hold(existing), Balance(tenant_id, credit_type, account.balance, account.held)
            state = domain.after_hold(account, amount)
            reservation_id = new_id()
            now = datetime.now(UTC)
            row = (
                await session.execute(
                    insert(holds)
                    .values(
                        reservation_id=reservation_id,
                        tenant_id=tenant_id,
                        credit_type=credit_type,
                        amount=amount,
                        state=HoldState.HELD.value,
                        job_id=job_id,
                        idempotency_key=idempotency_key,
                        created_at=now,
                        expires_at=now + timedelta(seconds=ttl_s),
                    )
                    .returning(holds)
                )
            ).one()
            await self._write(
                session,
                tenant_id,
                credit_type,
                state,
                EntryKind.HOLD,
                amount,
                reservation_id=reservation_id,
                job_id=job_id,
            )
            return _hold(row), Balance(tenant_id, credit_type, state.balance, state.held)

    async def _locked_hold(self, session: AsyncSession, reservation_id: str) -> tuple[Any, AccountState]:
        found = (await session.execute(select(holds).where(holds.c.reservation_id == reservation_id))).first()
        if found is None:
            raise NotFound(f"reservation {reservation_id} not found")
        account = await self._lock_account(session, found.tenant_id, found.credit_type)
        row = (
            await session.execute(select(holds).where(holds.c.reservation_id == reservation_id).with_for_update())
        ).one()
        return row, account

    async def owner_of(self, reservation_id: str) -> str:
        async with self._sessions() as session:
            tenant = (
                await session.execute(select(holds.c.tenant_id).where(holds.c.reservation_id == reservation_id))
            ).scalar()
        if tenant is None:
            raise NotFound(f"reservation {reservation_id} not found")
        return str(tenant)

    async def consume(self, reservation_id: str, amount: int) -> tuple[Hold, Balance]:
        async with transaction(self._sessions) as session:
            row, account = await self._locked_hold(session, reservation_id)
            balance = Balance(row.tenant_id, row.credit_type, account.balance, account.held)
            if row.state == HoldState.CONSUMED:
                return _hold(row), balance
            if row.state != HoldState.HELD:
                raise FailedPrecondition(f"reservation {reservation_id} is already {row.state}; cannot consume")
            state = domain.after_consume(account, row.amount, amount)
            resolved = await self._resolve(session, row, HoldState.CONSUMED, consumed=amount)
            await self._write(
                session,
                row.tenant_id,
                row.credit_type,
                state,
                EntryKind.CONSUME,
                amount,
                reservation_id=reservation_id,
                job_id=row.job_id,
                reason="" if amount == row.amount else f"remainder {row.amount - amount} released",
            )
            return resolved, Balance(row.tenant_id, row.credit_type, state.balance, state.held)

    async def release(self, reservation_id: str, reason: str, *, expired: bool = False) -> tuple[Hold, Balance]:
        final = HoldState.EXPIRED if expired else HoldState.RELEASED
        async with transaction(self._sessions) as session:
            row, account = await self._locked_hold(session, reservation_id)
            balance = Balance(row.tenant_id, row.credit_type, account.balance, account.held)
            if row.state in (HoldState.RELEASED, HoldState.EXPIRED):
                return _hold(row), balance
            if row.state != HoldState.HELD:
                raise FailedPrecondition(f"reservation {reservation_id} is already {row.state}; cannot release")
            state = domain.after_release(account, row.amount)
            resolved = await self._resolve(session, row, final, reason=reason)
            await self._write(
                session,
                row.tenant_id,
                row.credit_type,
                state,
                EntryKind.EXPIRE if expired else EntryKind.RELEASE,
                row.amount,
                reservation_id=reservation_id,
                job_id=row.job_id,
                reason=reason,
            )
            return resolved, Balance(row.tenant_id, row.credit_type, state.balance, state.held)

    async def _resolve(
        self, session: AsyncSession, row: Any, state: HoldState, *, consumed: int = 0, reason: str = ""
    ) -> Hold:
        updated = (
            await session.execute(
                update(holds)
                .where(holds.c.reservation_id == row.reservation_id)
                .values(state=state.value, consumed_amount=consumed, reason=reason, resolved_at=datetime.now(UTC))
                .returning(holds)
            )
        ).one()
        return _hold(updated)

    async def grant(self, tenant_id: str, credit_type: str, amount: int, idempotency_key: str, reason: str) -> Balance:
        credit_type = domain.check_credit_type(credit_type)
        if not tenant_id or not idempotency_key:
            raise InvalidArgument("tenant_id and idempotency_key are required")
        async with transaction(self._sessions) as session:
            account = await self._lock_account(session, tenant_id, credit_type)
            done = (
                await session.execute(
                    select(ledger.c.entry_id).where(
                        ledger.c.tenant_id == tenant_id,
                        ledger.c.idempotency_key == idempotency_key,
                        ledger.c.kind == EntryKind.GRANT.value,
                    )
                )
            ).first()
            if done is not None:
                return Balance(tenant_id, credit_type, account.balance, account.held)
            state = domain.after_grant(account, amount)
            await self._write(
                session,
                tenant_id,
                credit_type,
                state,
                EntryKind.GRANT,
                amount,
                idempotency_key=idempotency_key,
                reason=reason,
            )
            return Balance(tenant_id, credit_type, state.balance, state.held)

    async def balance(self, tenant_id: str, credit_type: str) -> Balance:
        credit_type = domain.check_credit_type(credit_type)
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(accounts.c.balance, accounts.c.held).where(
                        accounts.c.tenant_id == tenant_id, accounts.c.credit_type == credit_type
                    )
                )
            ).first()
        return Balance(tenant_id, credit_type, row.balance if row else 0, row.held if row else 0)

    async def entries(
        self, tenant_id: str, credit_type: str, start: datetime | None, end: datetime | None, limit: int, after: int
    ) -> list[Any]:
        credit_type = domain.check_credit_type(credit_type)
        conditions = [ledger.c.tenant_id == tenant_id, ledger.c.credit_type == credit_type, ledger.c.entry_id > after]
        if start is not None:
            conditions.append(ledger.c.created_at >= start)
        if end is not None:
            conditions.append(ledger.c.created_at < end)
        async with self._sessions() as session:
            result = await session.execute(
                select(ledger).where(and_(*conditions)).order_by(ledger.c.entry_id).limit(limit)
            )
            return list(result.all())

    async def quote(self, provider: str, duration_seconds: int) -> tuple[str, int]:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(rates.c.credit_type, rates.c.amount).where(
                        rates.c.provider == provider, rates.c.duration_seconds == duration_seconds
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no rate for {provider} {duration_seconds}s")
        return str(row.credit_type), int(row.amount)

    async def expire_due(self, now: datetime, batch: int = 100) -> int:
        """Release every hold past its TTL as `expire`; safe with several replicas (each under its account lock)."""
        async with self._sessions() as session:
            due = (
                (
                    await session.execute(
                        select(holds.c.reservation_id)
                        .where(holds.c.state == HoldState.HELD.value, holds.c.expires_at <= now)
                        .limit(batch)
                    )
                )
                .scalars()
                .all()
            )
        expired = 0
        for reservation_id in due:
            try:
                await self.release(reservation_id, "hold expired after its TTL", expired=True)
                expired += 1
            except FailedPrecondition:
                continue  # resolved meanwhile by a consume: nothing to expire
        return expired
