"""Still-frame wiring: settings, object store, image provider, run claims, bus handler and a health-only gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from social_video.v1 import pipeline_pb2
from still_frame.claims import RunClaims
from still_frame.images.factory import build_image_provider
from still_frame.images.metered import MeteredImages
from still_frame.settings import StillFrameSettings
from still_frame.usecases import StillFrame, Timing
from svd.bus import topology
from svd.bus.broker import make_broker
from svd.bus.consumer import Delivery, Outcome, subscribe
from svd.bus.publisher import EventPublisher
from svd.runtime import serve_until_stopped
from svd.storage import ObjectStore

log = logging.getLogger(__name__)


async def main(stop: asyncio.Event) -> None:
    settings = StillFrameSettings()  # type: ignore[call-arg]
    broker = make_broker(settings, "still-frame", settings.shutdown_grace_s)
    publisher = EventPublisher(broker)
    images = MeteredImages(build_image_provider(settings))  # every call's latency and errors, by provider
    log.info("still-frame image provider: %s, text overlay: %s", images.name, settings.text_overlay)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(images.aclose)
        store = await stack.enter_async_context(ObjectStore.open(settings))
        claims = RunClaims(store, settings.still_frame_claim_lease_s)
        timing = Timing(settings.still_frame_heartbeat_s, settings.still_frame_retry_s)
        still_frame = StillFrame(store, publisher, images, claims, timing, settings.text_overlay)

        async def on_design_requested(delivery: Delivery[pipeline_pb2.DesignRequested]) -> Outcome:
            return await still_frame.design_requested(delivery.message, delivery.in_progress)

        subscribe(
            broker,
            topology.consumer("still-frame-design-requested"),
            pipeline_pb2.DesignRequested,
            on_design_requested,
            publisher,
            policy=settings.retry_policy(),
            max_workers=2,
        )
        await serve_until_stopped(settings, stop, broker=broker)
