"""Wakes the webhook worker when the outbox trigger notifies `svd_webhooks` (any replica's commit), so an event is
fanned out and sent within milliseconds instead of at the next poll.

One `LISTEN` connection per process, reconnected with backoff. Notifications are only a hint: while the listener is
down the worker still polls every `webhook_poll_interval_s`, so a lost notification delays, never loses, a delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from svd.db.pool import conninfo

log = logging.getLogger(__name__)

CHANNEL = "svd_webhooks"
_CHECK_S = 30.0
_RETRY_MAX_S = 10.0


async def listen(database_url: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Set `wake` on every notification until `stop` (which ends it at once, not at the next quiet check)."""
    listener = asyncio.create_task(_listen(database_url, wake))
    try:
        await stop.wait()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(database_url: str, wake: asyncio.Event) -> None:
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo(database_url), autocommit=True, connect_timeout=10, application_name="dispatcher-webhooks"
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                wake.set()  # anything committed while nobody listened
                while True:
                    async with contextlib.aclosing(connection.notifies(timeout=_CHECK_S)) as notes:
                        async for _ in notes:
                            wake.set()
                    await asyncio.wait_for(connection.execute("SELECT 1"), 10.0)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("webhooks: listener connection lost or refused (%s); retrying", exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_S)
