"""Publishing to JetStream with de-duplication ids: binary protobuf for the pipeline, proto3 JSON for upstream."""

from __future__ import annotations

from faststream.nats import NatsBroker
from google.protobuf.message import Message

from svd.bus import codec


class EventPublisher:
    """Publishes protobuf messages to JetStream and waits for the stream's acknowledgement.

    `msg_id` becomes `Nats-Msg-Id`: a retried publish with the same id is stored once (within the stream's
    duplicate window), which is what makes "publish, then crash before ack" safe.
    """

    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker

    async def publish(self, subject: str, message: Message, msg_id: str) -> None:
        """A pipeline event, as protobuf binary."""
        await self._send(subject, codec.encode_binary(message), msg_id, codec.PROTOBUF)

    async def publish_json(self, subject: str, message: Message, msg_id: str) -> None:
        """An event for the upstream (TypeScript) app, as proto3 JSON."""
        await self._send(subject, codec.encode_json(message), msg_id, codec.JSON)

    async def _send(self, subject: str, payload: bytes, msg_id: str, content_type: str) -> None:
        await self._broker.publish(
            payload,
            subject=subject,
            headers={"Nats-Msg-Id": msg_id, "content-type": content_type},
            stream=_stream_for(subject),
        )


def _stream_for(subject: str) -> str:
    from svd.bus import topology

    for stream in topology.STREAMS:
        for pattern in stream.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return stream.name
    raise ValueError(f"no stream captures subject {subject!r}")
