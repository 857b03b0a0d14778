"""The lease on a job run's video record: which worker is storing that run right now.

JetStream redelivers `video.ready` when a heartbeat is missed (a slow or partitioned worker), so two workers can hold
the same run. Only the lease holder transfers, aborts leftover uploads or finishes the run; a delivery that finds a
live lease waits (`Retry`) and touches nothing. The holder renews the lease with every heartbeat; a holder that
cannot renew it stops working before it expires (self-fencing), so a lease that expired belongs to a worker that is
gone or has stopped, and the next delivery takes it over. Every comparison uses the database's clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media_store.models import media
from svd.db import transaction

log = logging.getLogger(__name__)
T = TypeVar("T")
Heartbeat = Callable[[], Awaitable[None]]


class LeaseLost(Exception):
    """Another worker holds the run now, or the lease could not be renewed in time: stop, publish nothing."""


@dataclass(frozen=True)
class Claim:
    """The result of trying to take a run's lease."""

    acquired: bool
    state: str  # the record's state: only an `uploading` run can be leased
    wait_s: float = 0.0  # not acquired: how long the other worker's lease still runs
    took_over: bool = False  # acquired from a holder whose lease had expired


@dataclass(frozen=True)
class Leases:
    sessions: async_sessionmaker[AsyncSession]
    ttl_s: float
    renew_every_s: float

    async def acquire(self, media_id: str, owner: str) -> Claim:
        async with transaction(self.sessions) as session:
            row = (
                await session.execute(
                    select(media.c.state, media.c.lease_owner, media.c.lease_until, func.now().label("now"))
                    .where(media.c.media_id == media_id)
                    .with_for_update()
                )
            ).one()
            if row.state != "uploading":
                return Claim(False, row.state)
            if row.lease_owner is not None and row.lease_until is not None and row.lease_until > row.now:
                return Claim(False, row.state, wait_s=(row.lease_until - row.now).total_seconds())
            await session.execute(
                update(media)
                .where(media.c.media_id == media_id)
                .values(lease_owner=owner, lease_until=row.now + timedelta(seconds=self.ttl_s), updated_at=row.now)
            )
            return Claim(True, row.state, took_over=row.lease_owner is not None)

    async def renew(self, media_id: str, owner: str) -> bool:
        """Extend the lease; False when it is no longer ours."""
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(media)
                .where(media.c.media_id == media_id, media.c.lease_owner == owner, media.c.state == "uploading")
                .values(lease_until=func.now() + timedelta(seconds=self.ttl_s))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, media_id: str, owner: str) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(
                update(media)
                .where(media.c.media_id == media_id, media.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def release_quietly(self, media_id: str, owner: str, timeout_s: float = 5.0) -> None:
        """Best effort, also while being cancelled: a lease left behind only delays the next delivery until it
        expires."""
        try:
            await asyncio.shield(asyncio.wait_for(self.release(media_id, owner), timeout_s))
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 (whatever it was, the lease expires by itself)
            log.warning("could not release the lease on %s; it expires in %.0f s", media_id, self.ttl_s)

    async def hold(self, media_id: str, owner: str, heartbeat: Heartbeat | None, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` while renewing the lease (and heartbeating) every `renew_every_s`; cancel it and raise
        `LeaseLost` as soon as the lease is lost or may have expired."""
        task = asyncio.ensure_future(work)
        keeper = asyncio.create_task(self._keep(media_id, owner, heartbeat))
        try:
            await asyncio.wait({task, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            keeper.result()  # raises LeaseLost (or the keeper's own failure)
            raise LeaseLost("the lease keeper stopped")  # pragma: no cover
        finally:
            for running in (task, keeper):
                running.cancel()
            await asyncio.gather(task, keeper, return_exceptions=True)

    async def _keep(self, media_id: str, owner: str, heartbeat: Heartbeat | None) -> None:
        renewed = time.monotonic()
        # The lease was last extended before `renewed`; stop two renewal periods before it can have expired.
        fence_s = self.ttl_s - 2 * self.renew_every_s
        while True:
            await asyncio.sleep(self.renew_every_s)
            if heartbeat is not None:
                try:
                    await heartbeat()
                except Exception:  # a redelivery it causes finds the lease and waits
                    log.warning("heartbeat failed", exc_info=True)
            try:
                ours = await self.renew(media_id, owner)
            except Exception as exc:
                if time.monotonic() - renewed > fence_s:
                    raise LeaseLost(f"could not renew the lease for {time.monotonic() - renewed:.0f} s") from exc
                log.warning("could not renew the lease on %s", media_id, exc_info=True)
                continue
            if not ours:
                raise LeaseLost("another worker took the run over")
            renewed = time.monotonic()
