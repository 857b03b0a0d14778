"""Bus handlers of the dispatcher: decode → use case → an explicit outcome (ack, retry later, or dead-letter)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsBroker

from dispatcher.usecases import Dispatcher
from social_video.v1 import pipeline_pb2, upstream_pb2
from svd.bus import topology
from svd.bus.consumer import Ack, Delivery, Outcome, Reject, Retry, backoff_s, subscribe
from svd.bus.publisher import EventPublisher
from svd.errors import InvalidArgument, Unavailable


def _outcome_of(use_case: Callable[[Any], Awaitable[None]]) -> Callable[[Delivery[Any]], Awaitable[Outcome]]:
    async def handle(delivery: Delivery[Any]) -> Outcome:
        try:
            await use_case(delivery.message)
        except InvalidArgument as exc:
            return Reject(exc.message)
        except Unavailable as exc:
            return Retry(backoff_s(delivery.num_delivered), exc.message)
        return Ack()

    return handle


def register(broker: NatsBroker, dispatcher: Dispatcher, publisher: EventPublisher) -> None:
    routes: list[tuple[str, type[Any], Callable[[Any], Awaitable[None]]]] = [
        ("dispatcher-copy-approved", upstream_pb2.CopyApproved, dispatcher.copy_approved),
        ("dispatcher-client-approved", upstream_pb2.ClientApproved, dispatcher.client_approved),
        ("dispatcher-submitted", pipeline_pb2.VideoSubmitted, dispatcher.submitted),
        ("dispatcher-progress", pipeline_pb2.VideoProgress, dispatcher.progress),
        ("dispatcher-stored", pipeline_pb2.VideoStored, dispatcher.stored),
        ("dispatcher-failed", pipeline_pb2.VideoFailed, dispatcher.failed),
    ]
    for durable, message_type, use_case in routes:
        subscribe(broker, topology.consumer(durable), message_type, _outcome_of(use_case), publisher, max_workers=4)
