"""Billing wiring: settings, database (migrated), the connection pool, the ledger, the gRPC server and the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from billing.ledger import Ledger
from billing.servicer import binding
from billing.settings import BillingSettings
from svd import db
from svd.db.pool import open_pool
from svd.runtime import serve_until_stopped
from svd.telemetry import untraced

log = logging.getLogger(__name__)
VERSIONS = Path(__file__).parent / "migrations" / "versions"
SWEEP_ACCOUNTS = 100  # accounts per sweep transaction
SWEEP_ROUNDS = 50  # transactions per sweep at most; the rest waits for the next sweep


async def sweep_once(ledger: Ledger) -> int:
    """Expire the holds past their TTL (all of them, unless there are very many); returns how many."""
    total = 0
    for _ in range(SWEEP_ROUNDS):
        expired = await ledger.expire_due(SWEEP_ACCOUNTS)
        total += expired
        if expired == 0:
            break
    return total


async def sweep_expired_holds(ledger: Ledger, interval_s: float, stop: asyncio.Event) -> None:
    """Expire holds past their TTL every `interval_s` until `stop` is set."""
    while not stop.is_set():
        try:
            with untraced():  # a poll every interval, not a trace of its own each time
                expired = await sweep_once(ledger)
            if expired:
                log.info("expired %d holds past their TTL", expired)
        except Exception:
            log.exception("hold sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def main(stop: asyncio.Event) -> None:
    settings = BillingSettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "billing", VERSIONS)
    async with open_pool(settings.database_url, settings.database_pool_size, "billing") as pool:
        ledger = Ledger(pool, settings.batch_flushers)
        sweeper = asyncio.create_task(sweep_expired_holds(ledger, settings.sweep_interval_s, stop))
        try:
            await serve_until_stopped(settings, stop, [binding(ledger, settings.default_hold_ttl_s)])
        finally:
            stop.set()
            await sweeper
