"""Bus handlers of the dispatcher: decode → use case → an explicit outcome (ack, or dead-letter).

A use case that raises `InvalidArgument` (bad data: it can never succeed) is dead-lettered at once with the reason.
Anything else it raises goes to the consumer (`svd.bus.consumer`), which retries transient infrastructure errors
(billing, media-store, PostgreSQL, NATS down) with capped backoff until the job's deadline and dead-letters the rest;
every dead letter then comes back here (`dispatcher-dead-letters`) and fails the job it belongs to, so no job waits
on a message that is gone. Each event is a short transaction: a handler never holds a job for its whole life.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsBroker

from dispatcher.usecases import PipelineEvents, Recovery, UpstreamEvents
from social_video.v1 import pipeline_pb2, upstream_pb2
from svd.bus import topology
from svd.bus.consumer import Ack, Delivery, Outcome, Reject, RetryPolicy, subscribe
from svd.bus.publisher import EventPublisher
from svd.errors import InvalidArgument


def _outcome_of(use_case: Callable[[Any], Awaitable[None]]) -> Callable[[Delivery[Any]], Awaitable[Outcome]]:
    async def handle(delivery: Delivery[Any]) -> Outcome:
        try:
            await use_case(delivery.message)
        except InvalidArgument as exc:
            return Reject(exc.message)
        return Ack()

    return handle


def register(
    broker: NatsBroker,
    upstream: UpstreamEvents,
    pipeline: PipelineEvents,
    recovery: Recovery,
    publisher: EventPublisher,
    policy: RetryPolicy,
) -> None:
    routes: list[tuple[str, type[Any], Callable[[Any], Awaitable[None]], int]] = [
        ("dispatcher-copy-approved", upstream_pb2.CopyApproved, upstream.copy_approved, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-design-rejected", upstream_pb2.DesignRejected, upstream.rejected, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-client-rejected", upstream_pb2.ClientRejected, upstream.rejected, topology.UPSTREAM_CONCURRENCY),
        ("dispatcher-client-approved", upstream_pb2.ClientApproved, upstream.client_approved, 4),
        ("dispatcher-submitted", pipeline_pb2.VideoSubmitted, pipeline.submitted, 4),
        ("dispatcher-progress", pipeline_pb2.VideoProgress, pipeline.progress, 4),
        ("dispatcher-stored", pipeline_pb2.VideoStored, pipeline.stored, 4),
        ("dispatcher-failed", pipeline_pb2.VideoFailed, pipeline.failed, 4),
        ("dispatcher-dead-letters", pipeline_pb2.DeadLetter, recovery.dead_lettered, 2),
    ]
    for durable, message_type, use_case, workers in routes:
        subscribe(
            broker,
            topology.consumer(durable),
            message_type,
            _outcome_of(use_case),
            publisher,
            policy=policy,
            max_workers=workers,
        )
