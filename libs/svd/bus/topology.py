"""The JetStream topology: every stream and durable consumer, declared in this one place.

`svd.bus.provision` creates or updates them idempotently (the dev stack and deployments run it); services only bind
to the durable consumers named here and never declare streams themselves. `PUBLISHES` says which service owns (may
publish) which subject; with the consumers it is all `svd.bus.permissions` needs to derive each service's NATS rights.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

SOCIAL = "SOCIAL"
VIDEO = "VIDEO"
OUTBOUND = "OUTBOUND"
DEAD_LETTER = "DEAD_LETTER"

# Upstream events the dispatcher consumes.
COPY_APPROVED = "social.post.copy_approved"
DESIGN_REJECTED = "social.post.design_rejected"
CLIENT_REJECTED = "social.post.client_rejected"
CLIENT_APPROVED = "social.post.client_approved"
# Outbound events for the upstream app.
STATUS_CHANGED = "social.post.status_changed"
NOTIFY_CLIENT = "notify.client"
DESIGNER_REQUESTED = "agent.social_post_designer.requested"
# Pipeline events.
DESIGN_REQUESTED = "video.design.requested"
STILL_READY = "video.still.ready"
SUBMITTED = "video.submitted"
POLL = "video.poll"
READY = "video.ready"
STORED = "video.stored"
FAILED = "video.failed"
PROGRESS = "video.progress"
CANCEL = "video.cancel"

DEAD_LETTER_PREFIX = "dlq"

# Upstream events a dispatcher process handles at once per kind. Not a cluster-wide cap any more: a message waiting
# on a delayed retry counts against `max_ack_pending`, so a small cap let two events in backoff stall every approval
# (head-of-line blocking). Limiting paid work is admission's job, not the bus's: an upstream event only creates a
# queued job (a quote, a balance and one insert), so a process reads them as fast as they come.
UPSTREAM_CONCURRENCY = 16
UPSTREAM_MAX_ACK_PENDING = 1000
# An upstream event larger than this is a bug upstream, not a post: it is dead-lettered unread.
UPSTREAM_MAX_BYTES = 64 * 1024

# A published message id is remembered this long for de-duplication (covers every retry of a publish).
DUPLICATE_WINDOW_S = 2 * 60 * 60.0


@dataclass(frozen=True)
class StreamSpec:
    """A stream and the subjects it captures."""

    name: str
    subjects: list[str]
    max_age_s: float = 7 * 24 * 3600.0

    def config(self, replicas: int = 1) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            num_replicas=replicas,
            subjects=self.subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_s,
            duplicate_window=DUPLICATE_WINDOW_S,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: one work queue shared by every replica of its service."""

    durable: str
    stream: str
    subject: str
    ack_wait_s: float = 60.0
    max_ack_pending: int = 1000
    # Larger messages are dead-lettered before decoding.
    max_message_bytes: int = 1024 * 1024

    @property
    def owner(self) -> str:
        """The service whose replicas share this work queue (durables are named after it)."""
        return next(name for name in PUBLISHES if self.durable.startswith(f"{name}-"))

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            filter_subject=self.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # Unlimited: JetStream drops a message silently at its delivery limit. `svd.bus.consumer` decides when to
            # give up (the job's deadline, or a few unexpected failures) and dead-letters the message with its reason.
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
        )


# Every service (its NATS user and client name) and the subjects it publishes. Each also publishes the dead letters
# of what it consumes (`svd.bus.consumer` dead-letters a message itself).
PUBLISHES: dict[str, tuple[str, ...]] = {
    # The dispatcher also publishes the reviewers' decisions made through its Posts API (`dispatcher.review`), as the
    # upstream router would.
    "dispatcher": (
        DESIGN_REQUESTED,
        CANCEL,
        POLL,
        STATUS_CHANGED,
        NOTIFY_CLIENT,
        DESIGNER_REQUESTED,
        CLIENT_APPROVED,
        CLIENT_REJECTED,
        DESIGN_REJECTED,
    ),
    "still-frame": (STILL_READY, PROGRESS, FAILED),
    "video-gateway": (SUBMITTED, POLL, READY, PROGRESS, FAILED),
    "media-store": (STORED, PROGRESS, FAILED),
    "billing": (),  # gRPC only
}

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(SOCIAL, ["social.>"]),
    StreamSpec(VIDEO, ["video.>"]),
    StreamSpec(OUTBOUND, ["notify.>", "agent.>"]),
    StreamSpec(DEAD_LETTER, [f"{DEAD_LETTER_PREFIX}.>"], max_age_s=30 * 24 * 3600.0),
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec(
        "dispatcher-copy-approved",
        SOCIAL,
        COPY_APPROVED,
        max_ack_pending=UPSTREAM_MAX_ACK_PENDING,
        max_message_bytes=UPSTREAM_MAX_BYTES,
    ),
    ConsumerSpec(
        "dispatcher-design-rejected",
        SOCIAL,
        DESIGN_REJECTED,
        max_ack_pending=UPSTREAM_MAX_ACK_PENDING,
        max_message_bytes=UPSTREAM_MAX_BYTES,
    ),
    ConsumerSpec(
        "dispatcher-client-rejected",
        SOCIAL,
        CLIENT_REJECTED,
        max_ack_pending=UPSTREAM_MAX_ACK_PENDING,
        max_message_bytes=UPSTREAM_MAX_BYTES,
    ),
    ConsumerSpec("dispatcher-client-approved", SOCIAL, CLIENT_APPROVED, max_message_bytes=UPSTREAM_MAX_BYTES),
    ConsumerSpec("dispatcher-submitted", VIDEO, SUBMITTED),
    ConsumerSpec("dispatcher-stored", VIDEO, STORED),
    ConsumerSpec("dispatcher-failed", VIDEO, FAILED),
    ConsumerSpec("dispatcher-progress", VIDEO, PROGRESS),
    # Still-frame heartbeats (in_progress) while an image is generated, like media-store.
    ConsumerSpec("still-frame-design-requested", VIDEO, DESIGN_REQUESTED, ack_wait_s=60.0),
    ConsumerSpec("video-gateway-still-ready", VIDEO, STILL_READY),
    ConsumerSpec("video-gateway-poll", VIDEO, POLL, max_ack_pending=20000),
    ConsumerSpec("video-gateway-cancel", VIDEO, CANCEL),
    # Short ack wait: media-store heartbeats (in_progress) while a transfer runs, so a crashed worker's video is
    # redelivered within seconds, not minutes.
    ConsumerSpec("media-store-ready", VIDEO, READY, ack_wait_s=30.0),
    # Every dead letter: the dispatcher fails the job it belongs to, so no job waits on a message that is gone.
    ConsumerSpec("dispatcher-dead-letters", DEAD_LETTER, f"{DEAD_LETTER_PREFIX}.>"),
)


def consumer(durable: str) -> ConsumerSpec:
    """The consumer spec named `durable`."""
    for spec in CONSUMERS:
        if spec.durable == durable:
            return spec
    raise KeyError(f"no consumer {durable!r} in the topology")


def dead_letter_subject(original_subject: str) -> str:
    """Where a message of `original_subject` goes when it can never succeed."""
    return f"{DEAD_LETTER_PREFIX}.{original_subject}"
