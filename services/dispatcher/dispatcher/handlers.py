"""Bus handlers of the dispatcher: decode → use case → an explicit outcome (ack, retry later, or dead-letter).

Concurrency (the seed ran video generation with concurrency 2 and a 15-minute lock): here a handler never holds a
job for its whole life — each event is a short transaction and the slow parts are other services' messages — so
the seed's limits become consumer settings in `svd.bus.topology`: at most `UPSTREAM_CONCURRENCY` upstream events of
a kind in flight across all replicas (`max_ack_pending`), and an event whose handler died is redelivered after its
ack wait, not after 15 minutes. The 15-minute lock survives as the bound on one job's pipeline: the billing hold's
TTL (`hold_ttl_s`) releases the credits of a job stuck beyond it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsBroker

from dispatcher.usecases import PipelineEvents, UpstreamEvents
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


def register(broker: NatsBroker, upstream: UpstreamEvents, pipeline: PipelineEvents, publisher: EventPublisher) -> None:
    routes: list[tuple[str, type[Any], Callable[[Any], Awaitable[None]], int]] = [
        ("dispatcher-copy-approved", upstream_pb2.CopyApproved, upstream.copy_approved, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-design-rejected", upstream_pb2.DesignRejected, upstream.rejected, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-client-rejected", upstream_pb2.ClientRejected, upstream.rejected, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-client-approved", upstream_pb2.ClientApproved, upstream.client_approved, 4),
        ("dispatcher-submitted", pipeline_pb2.VideoSubmitted, pipeline.submitted, 4),
        ("dispatcher-progress", pipeline_pb2.VideoProgress, pipeline.progress, 4),
        ("dispatcher-stored", pipeline_pb2.VideoStored, pipeline.stored, 4),
        ("dispatcher-failed", pipeline_pb2.VideoFailed, pipeline.failed, 4),
    ]
    for durable, message_type, use_case, workers in routes:
        subscribe(
            broker, topology.consumer(durable), message_type, _outcome_of(use_case), publisher, max_workers=workers
        )
