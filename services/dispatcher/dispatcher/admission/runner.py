"""The admission loop each dispatcher replica runs: a pass whenever the queue may have moved (a job arrived, ended
or was admitted: `NOTIFY svd_admission`, fanned out by the job event feed under `QUEUE_TOPIC`) and at least every
`admission_tick_s`, plus resuming stalled starts on the tick. Passes of one process never overlap; passes of several
replicas are serialised by the database lock. Nothing spins: between passes the loop sleeps on the notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dispatcher.admission.usecases import Admission
from dispatcher.watch.feed import JobEventFeed
from svd.telemetry import untraced

log = logging.getLogger(__name__)

# The PostgreSQL channel the `jobs` trigger notifies (migration 0008), and the feed topic it is published under.
ADMISSION_CHANNEL = "svd_admission"
QUEUE_TOPIC = "admission:queue"


async def run_admission(admission: Admission, feed: JobEventFeed, stop: asyncio.Event) -> None:
    tick_s = admission.settings.admission_tick_s
    loop = asyncio.get_running_loop()
    next_resume = loop.time() + admission.settings.admission_resume_after_s
    stopping = asyncio.create_task(stop.wait())
    try:
        with feed.subscribe(QUEUE_TOPIC) as moved:
            while not stop.is_set():
                try:
                    with untraced():  # the pass's queries; an admitted job starts in its own trace
                        await admission.admit()
                        if loop.time() >= next_resume:
                            next_resume = loop.time() + tick_s
                            await admission.resume()
                except Exception:
                    log.exception("admission pass failed; trying again within %.0f s", tick_s)
                woken = asyncio.create_task(moved.wait(tick_s))
                await asyncio.wait({woken, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not woken.done():
                    woken.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await woken
    finally:
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
