"""Runs the deadline sweep of `Recovery` every `interval_s` on every replica (each job is ended once, under its row
lock), until stopped. A failed sweep (database or billing down) is logged and tried again at the next tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dispatcher.usecases import Recovery

log = logging.getLogger(__name__)


async def run_sweeper(recovery: Recovery, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            ended = await recovery.sweep()
            if ended:
                log.warning("deadline sweep failed %d job(s) past their deadline", ended)
        except Exception:
            log.exception("deadline sweep failed; retrying in %.0f s", interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
