"""The DEAD_LETTER stream as a store of letters (adapter over JetStream's stream API): read by sequence, find where a
time starts, publish a replay, purge.

Letters stay in the stream after the dispatcher's `dispatcher-dead-letters` consumer has handled them (the stream
keeps messages by age, 30 days), so every letter can be read back by its sequence without a consumer of our own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from dispatcher.operations.letters import ALL_LETTERS
from svd.bus import topology
from svd.bus.connection import NatsSettings, connect_options
from svd.errors import NotFound

API_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StoredLetter:
    sequence: int
    time: datetime
    data: bytes


class DeadLetterStore:
    def __init__(self, nc: Client, stream: str = topology.DEAD_LETTER) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=API_TIMEOUT_S)
        self._stream = stream

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: NatsSettings, client_name: str) -> AsyncIterator[DeadLetterStore]:
        """A connection of its own, with the service's credentials, TLS and inbox (its NATS user's permissions
        allow replies there only)."""
        options = connect_options(settings, client_name) | {"name": f"{client_name}-operations"}
        nc = await nats.connect(**options, max_reconnect_attempts=-1)
        try:
            yield cls(nc)
        finally:
            await nc.drain()

    async def next(self, sequence: int, subject: str = ALL_LETTERS) -> StoredLetter | None:
        """The first letter at or after `sequence` on `subject`, or None."""
        try:
            raw = await self._js.get_msg(self._stream, seq=max(sequence, 1), subject=subject, next=True)
        except NotFoundError:
            return None
        assert raw.seq is not None and raw.time is not None
        return StoredLetter(raw.seq, raw.time, raw.data or b"")

    async def get(self, sequence: int) -> StoredLetter:
        found = await self.next(sequence)
        if found is None or found.sequence != sequence:
            raise NotFound(f"dead letter {sequence} not found")
        return found

    async def first_since(self, since: datetime) -> int:
        """A sequence from which reading `next` meets no letter older than `since` (binary search: stored times
        grow with the sequence)."""
        info = await self._js.stream_info(self._stream)
        low, high = info.state.first_seq, info.state.last_seq + 1
        while low < high:
            middle = (low + high) // 2
            found = await self.next(middle)
            if found is None or found.time >= since:
                high = middle
            else:
                low = found.sequence + 1
        return low

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
        """Publish to the original subject; True when the stream had already stored this message id."""
        ack = await self._js.publish(subject, payload, headers=headers, timeout=API_TIMEOUT_S)
        return bool(ack.duplicate)

    async def purge_before(self, sequence: int, subject: str = ALL_LETTERS) -> int:
        """Delete the letters on `subject` below `sequence`; how many went."""
        if sequence <= 1:
            return 0
        request = {"seq": sequence, "filter": subject}
        reply = await self._nc.request(
            f"$JS.API.STREAM.PURGE.{self._stream}", json.dumps(request).encode(), timeout=API_TIMEOUT_S
        )
        answer = json.loads(reply.data)
        if "error" in answer:
            raise RuntimeError(f"purging dead letters failed: {answer['error']}")
        return int(answer.get("purged", 0))
