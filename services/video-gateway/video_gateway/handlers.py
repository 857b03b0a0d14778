"""Bus handlers of the video gateway: still ready → submit; poll → one check; cancel → stop the run.

A submit may wait minutes for the provider's answer (see `RUNWAY_SUBMIT_TIMEOUT_S`), longer than its consumer's ack
wait: it tells JetStream it is alive meanwhile, so the message is not handed to another worker while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from faststream.nats import NatsBroker

from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.consumer import Delivery, Outcome, RetryPolicy, subscribe
from svd.bus.publisher import EventPublisher
from video_gateway.cancel import Canceller
from video_gateway.poll import Poller
from video_gateway.submit import Submitter

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def heartbeat(in_progress: Callable[[], Awaitable[None]] | None, every_s: float) -> AsyncIterator[None]:
    """Call `in_progress` every `every_s` seconds while the body runs (a missed beat only risks a redelivery, which
    the submit claim turns into a wait)."""
    if in_progress is None:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await in_progress()
            except Exception:  # NATS briefly away: the next beat may get through
                log.warning("heartbeat failed", exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def register(
    broker: NatsBroker,
    submitter: Submitter,
    poller: Poller,
    canceller: Canceller,
    publisher: EventPublisher,
    *,
    poll_concurrency: int,
    policy: RetryPolicy,
) -> None:
    still_ready = topology.consumer("video-gateway-still-ready")

    async def on_still_ready(delivery: Delivery[pipeline_pb2.StillReady]) -> Outcome:
        async with heartbeat(delivery.in_progress, still_ready.ack_wait_s / 3):
            return await submitter.still_ready(delivery.message)

    async def on_poll(delivery: Delivery[pipeline_pb2.VideoPoll]) -> Outcome:
        return await poller.poll(delivery.message)

    async def on_cancel(delivery: Delivery[pipeline_pb2.VideoCancel]) -> Outcome:
        return await canceller.cancel(delivery.message)

    subscribe(
        broker,
        still_ready,
        pipeline_pb2.StillReady,
        on_still_ready,
        publisher,
        policy=policy,
        max_workers=4,
    )
    subscribe(
        broker,
        topology.consumer("video-gateway-poll"),
        pipeline_pb2.VideoPoll,
        on_poll,
        publisher,
        policy=policy,
        max_workers=poll_concurrency,
    )
    subscribe(
        broker,
        topology.consumer("video-gateway-cancel"),
        pipeline_pb2.VideoCancel,
        on_cancel,
        publisher,
        policy=policy,
        max_workers=2,
    )
