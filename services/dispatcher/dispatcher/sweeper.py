"""Runs the deadline sweep of `Recovery` every `interval_s` on every replica (each job is ended once, under its row
lock), and prunes old processed-event ids hourly, until stopped. A failed sweep (database or billing down) is logged
and tried again at the next tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dispatcher.usecases import Recovery

log = logging.getLogger(__name__)


PRUNE_EVERY_S = 3600.0


async def run_sweeper(recovery: Recovery, interval_s: float, retention_s: float, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    next_prune = loop.time()
    while not stop.is_set():
        try:
            ended = await recovery.sweep()
            if ended:
                log.warning("deadline sweep failed %d job(s) past their deadline", ended)
            if loop.time() >= next_prune:
                pruned = await recovery.prune(retention_s)
                next_prune = loop.time() + PRUNE_EVERY_S
                if pruned:
                    log.info("forgot %d processed-event ids older than %.0f days", pruned, retention_s / 86400)
        except Exception:
            log.exception("deadline sweep failed; retrying in %.0f s", interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
