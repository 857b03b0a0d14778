"""Dead letters as an operator sees them (pure): what a letter's original message is, which tenant and job it names,
the DLQ subject a filter reads, and the message id a replay is published with.

A letter is the `DeadLetter` the consumer wrote to `dlq.<original subject>` (see `svd.bus.consumer`); its id is its
sequence in the DEAD_LETTER stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from social_video.v1 import operations_pb2, outbound_pb2, pipeline_pb2, upstream_pb2
from svd.bus import codec, topology
from svd.errors import InvalidArgument
from svd.timeutil import to_timestamp

# What each subject carries, so a letter's body can be shown and its job found.
MESSAGE_TYPES: dict[str, type[Message]] = {
    topology.COPY_APPROVED: upstream_pb2.CopyApproved,
    topology.DESIGN_REJECTED: upstream_pb2.DesignRejected,
    topology.CLIENT_REJECTED: upstream_pb2.ClientRejected,
    topology.CLIENT_APPROVED: upstream_pb2.ClientApproved,
    topology.DESIGN_REQUESTED: pipeline_pb2.DesignRequested,
    topology.STILL_READY: pipeline_pb2.StillReady,
    topology.SUBMITTED: pipeline_pb2.VideoSubmitted,
    topology.POLL: pipeline_pb2.VideoPoll,
    topology.READY: pipeline_pb2.VideoReady,
    topology.STORED: pipeline_pb2.VideoStored,
    topology.FAILED: pipeline_pb2.VideoFailed,
    topology.PROGRESS: pipeline_pb2.VideoProgress,
    topology.CANCEL: pipeline_pb2.VideoCancel,
    topology.STATUS_CHANGED: outbound_pb2.PostStatusChanged,
    topology.NOTIFY_CLIENT: outbound_pb2.ClientNotification,
    topology.DESIGNER_REQUESTED: outbound_pb2.DesignerRequested,
}
# Every letter: the DEAD_LETTER stream's own subjects.
ALL_LETTERS = f"{topology.DEAD_LETTER_PREFIX}.>"
MAX_SUBJECT = 256
# Marks a replayed message (the letter it came from), so its handling can be traced back to the replay.
REPLAY_HEADER = "Svd-Replay-Of"


@dataclass(frozen=True)
class Letter:
    """One dead letter read back from the stream."""

    id: int
    letter: pipeline_pb2.DeadLetter
    # The original message, when its subject's type is known and it decodes.
    body: Message | None = None
    job_id: str = ""
    tenant_id: str = ""
    event_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.letter.original_subject


def dlq_filter(subject: str) -> str:
    """The DEAD_LETTER subject that holds letters of original `subject` (wildcards kept); every letter for ''."""
    subject = subject.strip()
    if not subject:
        return ALL_LETTERS
    tokens = subject.split(".")
    if len(subject) > MAX_SUBJECT or any(not t or " " in t for t in tokens) or ">" in tokens[:-1]:
        raise InvalidArgument(f"subject {subject[:80]!r} is not a NATS subject")
    return topology.dead_letter_subject(subject)


def read(sequence: int, data: bytes) -> Letter:
    """A stored letter with what its body says about tenant and job (blank when unknown or undecodable)."""
    letter = pipeline_pb2.DeadLetter.FromString(data)
    message_type = MESSAGE_TYPES.get(letter.original_subject)
    if message_type is None:
        return Letter(sequence, letter)
    try:
        body = codec.decode(letter.payload, dict(letter.headers), message_type)
    except codec.UndecodableMessage:
        return Letter(sequence, letter)
    ref = getattr(body, "ref", None)
    if isinstance(ref, pipeline_pb2.JobRef):
        return Letter(sequence, letter, body, job_id=ref.job_id, tenant_id=ref.tenant_id)
    return Letter(
        sequence,
        letter,
        body,
        job_id=str(getattr(body, "job_id", "") or ""),
        tenant_id=str(getattr(body, "tenant_id", "") or ""),
        event_id=str(getattr(body, "event_id", "") or ""),
    )


def summary(letter: Letter, job_id: str = "") -> operations_pb2.DeadLetterSummary:
    """The listing row of `letter`; `job_id` is the job found for its event when the body names none."""
    out = operations_pb2.DeadLetterSummary(
        id=letter.id,
        original_subject=letter.subject,
        reason=letter.letter.reason,
        consumer=letter.letter.consumer,
        tenant_id=letter.tenant_id,
        job_id=letter.job_id or job_id,
        event_id=letter.event_id,
        size_bytes=len(letter.letter.payload),
    )
    if letter.letter.HasField("dead_at"):
        out.dead_at.CopyFrom(letter.letter.dead_at)
    return out


def letter_target(letter_id: int) -> str:
    """How operator records name a letter."""
    return f"dlq:{letter_id}"


def detail(letter: Letter, job_id: str = "", replays: Sequence[Any] = ()) -> operations_pb2.DeadLetterDetail:
    """Everything about `letter`: headers, its body as proto3 JSON when it decodes, and its recorded replays."""
    body_json = ""
    if letter.body is not None:
        body_json = json_format.MessageToJson(letter.body, indent=2, sort_keys=True)
    return operations_pb2.DeadLetterDetail(
        summary=summary(letter, job_id),
        headers=dict(letter.letter.headers),
        body_json=body_json,
        payload=letter.letter.payload,
        stream=letter.letter.stream,
        stream_sequence=letter.letter.stream_sequence,
        replays=[
            operations_pb2.LetterReplay(
                time=to_timestamp(row.time), key_id=row.key_id, message_id=row.details.get("message_id", "")
            )
            for row in replays
        ],
    )


def replay_message_id(letter_id: int, request_id: str) -> str:
    """The new `Nats-Msg-Id` of a replay: fresh for each request, the same when a request is repeated (so the stream
    stores it once). Short and safe whatever the client's request id looks like."""
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    return f"replay:{letter_id}:{digest}"


def replay_headers(letter: Letter, message_id: str) -> dict[str, str]:
    """The original headers (content type, trace context), a new message id, and where it came from."""
    headers = {k: v for k, v in letter.letter.headers.items() if k.lower() != "nats-msg-id"}
    return {**headers, "Nats-Msg-Id": message_id, REPLAY_HEADER: str(letter.id)}


def page_token(next_sequence: int) -> str:
    return str(next_sequence) if next_sequence > 0 else ""


def parse_page_token(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidArgument("invalid page_token")
    return int(token)
