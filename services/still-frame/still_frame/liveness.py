"""Keeping a long still alive: the consumer heartbeat and the run claim's renewal, beating while the work runs.

An image call may take minutes (the provider's own time, then the client's retries), longer than the consumer's ack
wait: without a heartbeat JetStream would hand the request to a second worker, which would pay for a second image.
Each beat is bounded by the period, so a hung store or bus delays at most one beat, never the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)
Beat = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def kept_alive(every_s: float, **beats: Beat | None) -> AsyncIterator[None]:
    """Call each named beat every `every_s` seconds while the body runs (each on its own, so a slow one does not
    hold up the others); a failed beat is logged, the next one tries again."""

    async def beating(name: str, beat: Beat) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.wait_for(beat(), every_s)
            except Exception:  # a missed beat risks only a redelivery, which the run claim absorbs
                log.warning("%s heartbeat failed", name, exc_info=True)

    tasks = [asyncio.create_task(beating(name, beat)) for name, beat in beats.items() if beat is not None]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
