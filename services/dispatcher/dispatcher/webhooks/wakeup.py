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
    """Set `wake` on every notification until `stop`."""
    delay = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo(database_url), autocommit=True, connect_timeout=10, application_name="dispatcher-webhooks"
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                wake.set()  # anything committed while nobody listened
                while not stop.is_set():
                    async with contextlib.aclosing(connection.notifies(timeout=_CHECK_S, stop_after=None)) as notes:
                        async for _ in notes:
                            wake.set()
                            if stop.is_set():
                                return
                    await asyncio.wait_for(connection.execute("SELECT 1"), 10.0)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("webhooks: listener connection lost or refused (%s); retrying", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, _RETRY_MAX_S)
