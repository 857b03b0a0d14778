"""Bus handlers of the video gateway: still ready → submit; poll → one check; cancel → stop the run."""

from __future__ import annotations

from faststream.nats import NatsBroker

from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.consumer import Delivery, Outcome, RetryPolicy, subscribe
from svd.bus.publisher import EventPublisher
from video_gateway.cancel import Canceller
from video_gateway.poll import Poller
from video_gateway.submit import Submitter


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
    async def on_still_ready(delivery: Delivery[pipeline_pb2.StillReady]) -> Outcome:
        return await submitter.still_ready(delivery.message)

    async def on_poll(delivery: Delivery[pipeline_pb2.VideoPoll]) -> Outcome:
        return await poller.poll(delivery.message)

    async def on_cancel(delivery: Delivery[pipeline_pb2.VideoCancel]) -> Outcome:
        return await canceller.cancel(delivery.message)

    subscribe(
        broker,
        topology.consumer("video-gateway-still-ready"),
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
