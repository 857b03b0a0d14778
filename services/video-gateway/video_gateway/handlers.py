"""Bus handlers of the video gateway: still ready → submit; poll → check and redeliver with a delay."""

from __future__ import annotations

from faststream.nats import NatsBroker

from social_video.v1 import pipeline_pb2
from svd.bus import topology
from svd.bus.consumer import Delivery, Outcome, subscribe
from svd.bus.publisher import EventPublisher
from video_gateway.usecases import Gateway


def register(broker: NatsBroker, gateway: Gateway, publisher: EventPublisher) -> None:
    async def on_still_ready(delivery: Delivery[pipeline_pb2.StillReady]) -> Outcome:
        return await gateway.still_ready(delivery.message)

    async def on_poll(delivery: Delivery[pipeline_pb2.VideoPoll]) -> Outcome:
        return await gateway.poll(delivery.message, delivery.num_delivered)

    subscribe(
        broker,
        topology.consumer("video-gateway-still-ready"),
        pipeline_pb2.StillReady,
        on_still_ready,
        publisher,
        max_workers=4,
    )
    subscribe(
        broker, topology.consumer("video-gateway-poll"), pipeline_pb2.VideoPoll, on_poll, publisher, max_workers=16
    )
