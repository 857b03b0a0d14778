"""Billing wiring: settings, database (migrated), the ledger, the gRPC server and the hold sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from billing.ledger import Ledger
from billing.servicer import binding
from billing.settings import BillingSettings
from svd import db
from svd.runtime import serve_until_stopped

log = logging.getLogger(__name__)
VERSIONS = Path(__file__).parent / "migrations" / "versions"


async def sweep_expired_holds(ledger: Ledger, interval_s: float, stop: asyncio.Event) -> None:
    """Expire holds past their TTL until `stop` is set."""
    while not stop.is_set():
        try:
            expired = await ledger.expire_due(datetime.now(UTC))
            if expired:
                log.info("expired %d holds past their TTL", expired)
        except Exception:
            log.exception("hold sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def main(stop: asyncio.Event) -> None:
    settings = BillingSettings()  # type: ignore[call-arg]
    await db.migrate(settings.database_url, "billing", VERSIONS)
    engine = db.create_engine(settings.database_url, settings.database_pool_size)
    try:
        ledger = Ledger(db.session_factory(engine))
        sweeper = asyncio.create_task(sweep_expired_holds(ledger, settings.sweep_interval_s, stop))
        await serve_until_stopped(settings, stop, [binding(ledger, settings.default_hold_ttl_s)])
        await sweeper
    finally:
        await engine.dispose()
