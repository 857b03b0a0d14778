"""Consuming from durable JetStream consumers with an explicit outcome per message.

A handler receives the decoded message and its delivery facts and returns what to do: `Ack`, `Retry(delay)`
(negative-acknowledge with a delay: JetStream redelivers it later), or `Reject(reason)` (the message can never
succeed: it is dead-lettered with the reason, then terminated so it never blocks the consumer). Undecodable payloads
are rejected before the handler runs; an unexpected exception is retried with backoff and dead-lettered once the
consumer's delivery limit is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from google.protobuf.message import Message

from social_video.v1 import pipeline_pb2
from svd.bus import codec
from svd.bus.publisher import EventPublisher
from svd.bus.topology import DEAD_LETTER, ConsumerSpec, dead_letter_subject

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Ack:
    """Done (or nothing to do): remove the message from the work queue."""


@dataclass(frozen=True)
class Retry:
    """Not done yet: redeliver after `delay_s` seconds."""

    delay_s: float
    reason: str = ""


@dataclass(frozen=True)
class Reject:
    """Can never succeed: dead-letter with `reason` and stop redelivering."""

    reason: str


Outcome = Ack | Retry | Reject


@dataclass(frozen=True)
class Delivery(Generic[M]):
    """One delivery of a decoded message."""

    message: M
    subject: str
    headers: dict[str, str]
    num_delivered: int
    stream_sequence: int
    # Tells JetStream the message is still being worked on (resets its ack wait): for long-running handlers.
    in_progress: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[Delivery[M]], Awaitable[Outcome]]


def backoff_s(num_delivered: int, base_s: float = 1.0, cap_s: float = 60.0) -> float:
    """Exponential backoff for unexpected failures: 1, 2, 4 … seconds, capped."""
    return float(min(cap_s, base_s * 2 ** max(0, num_delivered - 1)))


def subscribe(
    broker: NatsBroker,
    spec: ConsumerSpec,
    message_type: type[M],
    handler: Handler[M],
    publisher: EventPublisher,
    *,
    max_workers: int = 1,
    fetch_wait_s: float = 0.5,
) -> None:
    """Bind `handler` to the durable consumer `spec` (declared by the topology, never here).

    Up to `max_workers` handlers run at once. Messages are pulled in batches of up to `max_workers`; a pull hands
    over what it has after at most `fetch_wait_s` (a batch is not waited for until it fills), so a message that
    becomes deliverable (e.g. a `Retry` whose delay ran out) is handled within that time even when few arrive.
    """

    async def on_message(message: Any) -> None:
        msg = cast(NatsMessage, message)
        raw = msg.raw_message
        headers = dict(raw.headers or {})
        meta = raw.metadata
        try:
            if len(raw.data) > spec.max_message_bytes:
                raise codec.UndecodableMessage(
                    f"message of {len(raw.data)} bytes exceeds the {spec.max_message_bytes}-byte limit"
                )
            decoded = codec.decode(raw.data, headers, message_type)
        except codec.UndecodableMessage as exc:
            await _dead_letter(publisher, spec, raw.subject, raw.data, headers, meta.sequence.stream, str(exc))
            await msg.reject()
            return
        delivery = Delivery(decoded, raw.subject, headers, meta.num_delivered, meta.sequence.stream, msg.in_progress)
        try:
            outcome = await handler(delivery)
        except Exception as exc:
            log.exception("handler for %s failed (delivery %d)", spec.durable, meta.num_delivered)
            if 0 < spec.max_deliver <= meta.num_delivered:
                reason = f"failed {meta.num_delivered} times, last error: {type(exc).__name__}: {exc}"
                outcome = Reject(reason)
            else:
                outcome = Retry(backoff_s(meta.num_delivered), str(exc))
        await _settle(msg, outcome, publisher, spec, raw.subject, raw.data, headers, meta.sequence.stream)

    subscriber_options: dict[str, Any] = {"pull_sub": PullSub(batch_size=max_workers, timeout=fetch_wait_s)}
    if max_workers > 1:
        subscriber_options["max_workers"] = max_workers
    broker.subscriber(
        spec.subject,
        decoder=_the_message,
        stream=JStream(spec.stream, declare=False),
        durable=spec.durable,
        ack_policy=AckPolicy.MANUAL,
        **subscriber_options,  # type: ignore[arg-type]
    )(on_message)


async def _the_message(message: Any) -> Any:
    """Hand the handler the FastStream message itself; decoding (and its errors) belongs to `codec`, so bad payloads
    can be dead-lettered. (Asking for it with a `NatsMessage` parameter instead would have FastStream's dependency
    injection resolve it in a worker thread for every message: a thread hop that was a tenth of a poll check's CPU.)"""
    return message


async def _settle(
    msg: NatsMessage,
    outcome: Outcome,
    publisher: EventPublisher,
    spec: ConsumerSpec,
    subject: str,
    payload: bytes,
    headers: dict[str, str],
    sequence: int,
) -> None:
    match outcome:
        case Ack():
            await msg.ack()
        case Retry(delay_s=delay):
            await msg.nack(delay=delay)
        case Reject(reason=reason):
            await _dead_letter(publisher, spec, subject, payload, headers, sequence, reason)
            await msg.reject()


async def _dead_letter(
    publisher: EventPublisher,
    spec: ConsumerSpec,
    subject: str,
    payload: bytes,
    headers: dict[str, str],
    sequence: int,
    reason: str,
) -> None:
    log.warning("dead-lettering %s #%d from %s: %s", subject, sequence, spec.durable, reason)
    letter = pipeline_pb2.DeadLetter(
        original_subject=subject,
        stream=spec.stream,
        consumer=spec.durable,
        reason=reason,
        payload=payload,
        headers={k: v for k, v in headers.items() if k.lower() != "nats-msg-id"},
    )
    letter.dead_at.FromDatetime(datetime.now(UTC))
    letter.stream_sequence = sequence
    await publisher.publish(dead_letter_subject(subject), letter, f"{DEAD_LETTER}:{spec.durable}:{sequence}")
