"""Consuming from durable JetStream consumers with an explicit outcome per message.

A handler receives the decoded message and its delivery facts and returns what to do: `Ack`, `Retry(delay)`
(negative-acknowledge with a delay: JetStream redelivers it later), or `Reject(reason)` (the message can never
succeed: it is dead-lettered with the reason, then terminated so it never blocks the consumer).

Nothing leaves a consumer silently (JetStream's own delivery limit is off; this module decides when to give up):
- undecodable payloads are dead-lettered before the handler runs;
- a `Retry`, and a raised transient infrastructure error (`svd.errors.is_transient`: a peer, PostgreSQL, the object
  store or NATS down), are redelivered with capped exponential backoff until the message's deadline (its job's
  `ref.deadline`, else its store time plus the policy's budget), then dead-lettered with the last reason;
- any other exception is a bug or bad data: retried with backoff `max_failures` times, then dead-lettered;
- a handler cancelled at shutdown hands its message back at once (nack without delay) for another replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from svd.bus.connection import inbox_prefix
from svd.bus.publisher import EventPublisher
from svd.bus.topology import DEAD_LETTER, ConsumerSpec, dead_letter_subject
from svd.errors import is_transient
from svd.telemetry import metrics

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


# How long an idle pull waits on the server. A pull of a stopped or crashed process costs nothing: the server skips
# a waiting request whose reply subject has lost its interest.
LONG_POLL_S = 5.0


def backoff_s(num_delivered: int, base_s: float = 1.0, cap_s: float = 60.0) -> float:
    """Exponential backoff for unexpected failures: 1, 2, 4 … seconds, capped."""
    return float(min(cap_s, base_s * 2 ** max(0, min(num_delivered - 1, 30))))


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a consumer retries (the service's `bus_*` settings)."""

    # Backoff of retried failures: base * 2^(n-1), capped.
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    # How long a message without a job deadline is retried, from its first store in the stream.
    budget_s: float = 3600.0
    # Deliveries of a message whose handler keeps failing with an error that is not transient (a bug, bad data).
    max_failures: int = 10

    def backoff(self, num_delivered: int) -> float:
        return backoff_s(num_delivered, self.backoff_base_s, self.backoff_cap_s)


def message_deadline(message: Message, stored_at: datetime, policy: RetryPolicy) -> datetime:
    """When retrying `message` stops: its job's deadline when it names one, else its store time plus the budget."""
    ref = getattr(message, "ref", None)
    if isinstance(ref, pipeline_pb2.JobRef) and ref.HasField("deadline"):
        return ref.deadline.ToDatetime(tzinfo=UTC)
    return datetime.fromtimestamp(stored_at.timestamp() + policy.budget_s, UTC)


def decide(
    outcome: Outcome | BaseException, num_delivered: int, deadline: datetime, now: datetime, policy: RetryPolicy
) -> Ack | Retry | Reject:
    """The final outcome of one delivery (pure): give up at the deadline or after `max_failures` unexpected errors,
    never retry past the deadline, and turn exceptions into retries or dead letters."""
    if isinstance(outcome, BaseException):
        error = f"{type(outcome).__name__}: {outcome}"
        if not is_transient(outcome) and num_delivered >= policy.max_failures:
            return Reject(f"failed {num_delivered} times, last error: {error}")
        outcome = Retry(policy.backoff(num_delivered), error)
    if not isinstance(outcome, Retry):
        return outcome
    left_s = (deadline - now).total_seconds()
    if left_s <= 0:
        why = outcome.reason or "still not done"
        return Reject(f"gave up at the deadline after {num_delivered} deliveries: {why}")
    # The last try happens at the deadline, not after it.
    return Retry(min(outcome.delay_s, max(left_s, 0.1)), outcome.reason)


def subscribe(
    broker: NatsBroker,
    spec: ConsumerSpec,
    message_type: type[M],
    handler: Handler[M],
    publisher: EventPublisher,
    *,
    policy: RetryPolicy | None = None,
    max_workers: int = 1,
    fetch_wait_s: float = LONG_POLL_S,
) -> None:
    """Bind `handler` to the durable consumer `spec` (declared by the topology, never here).

    Up to `max_workers` handlers run at once. Messages are pulled one at a time by a long poll: a pull request
    waits on the server for up to `fetch_wait_s` and is answered the moment a message is deliverable (a new one,
    or a `Retry` whose delay ran out), and the next pull is made as soon as a handler slot is free. A batch pull
    (the previous design) was answered only when the batch filled or its wait ran out, which delayed a lone
    message by the whole wait and made every idle consumer poll the server twice a second.
    """
    retry_policy = policy or RetryPolicy()

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
        deadline = message_deadline(decoded, meta.timestamp, retry_policy)
        if meta.num_delivered > 1:
            metrics.bus_redeliveries.add(1, {"consumer": spec.durable})
        result: Outcome | BaseException
        started = time.perf_counter()
        try:
            result = await handler(delivery)
        except asyncio.CancelledError:
            # Shutdown outlasted the grace: hand the message back now rather than after its ack wait.
            await asyncio.shield(msg.nack())
            raise
        except Exception as exc:
            level = logging.WARNING if is_transient(exc) else logging.ERROR
            log.log(level, "handler for %s failed (delivery %d)", spec.durable, meta.num_delivered, exc_info=exc)
            result = exc
        _record_handling(spec.durable, result, time.perf_counter() - started)
        outcome = decide(result, meta.num_delivered, deadline, datetime.now(UTC), retry_policy)
        await _settle(msg, outcome, publisher, spec, raw.subject, raw.data, headers, meta.sequence.stream)

    subscriber_options: dict[str, Any] = {"pull_sub": PullSub(batch_size=1, timeout=fetch_wait_s)}
    if max_workers > 1:
        subscriber_options["max_workers"] = max_workers
    broker.subscriber(
        spec.subject,
        decoder=_the_message,
        stream=JStream(spec.stream, declare=False),
        durable=spec.durable,
        # Pulled messages arrive in the owner's own inbox, the only one its NATS user may read (svd.bus.permissions).
        inbox_prefix=f"{inbox_prefix(spec.owner)}.".encode(),
        ack_policy=AckPolicy.MANUAL,
        **subscriber_options,  # type: ignore[arg-type]
    )(on_message)


def _record_handling(consumer: str, result: Outcome | BaseException, seconds: float) -> None:
    """How long the handler took, by outcome; a pipeline step's consumer also times that step when it is done."""
    outcome = "error" if isinstance(result, BaseException) else type(result).__name__.lower()
    metrics.bus_handle_duration.record(seconds, {"consumer": consumer, "outcome": outcome})
    step = metrics.STEP_OF_CONSUMER.get(consumer)
    if step is not None and outcome == "ack":
        metrics.step_duration.record(seconds, {"step": step})


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
    metrics.bus_dead_letters.add(1, {"consumer": spec.durable})
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
