"""Run claims: while one worker makes a job run's still, no other delivery of the request pays for a second image.

A claim is a small JSON object beside the still (``…/stills/{job}-{run}.claim``) written with compare-and-swap puts
(``If-None-Match: *`` to create, ``If-Match: <etag>`` to change), so of two workers racing for it exactly one wins.
It is a lease: the holder renews it while it works (with the consumer heartbeat); one that is not renewed for
``lease_s`` (the worker crashed or hangs) may be taken over. A finished claim records the outcome:

* ``running`` — someone is painting; a second delivery retries later, and finds the stored still then;
* ``released`` — the holder stopped without a still (a transient failure or shutdown): the next delivery goes ahead;
* ``failed`` — the still can never be made; a redelivery re-announces the failure without another paid call.

Each claim carries its holder's token, so a holder whose compare-and-swap lost only because its own earlier write
landed unacknowledged (a retried put, a renewal cut short) recognises the claim as still its own.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from svd.errors import FailedPrecondition, NotFound
from svd.ids import short_id
from svd.storage import ObjectStore

log = logging.getLogger(__name__)
State = Literal["running", "released", "failed"]
_STATES: dict[str, State] = {"running": "running", "released": "released", "failed": "failed"}
CONTENT_TYPE = "application/json"


def claim_key(still_key: str) -> str:
    """Where the claim of the run whose still is `still_key` lives (beside it, under the post's prefix)."""
    return still_key.removesuffix(".png") + ".claim"


def new_owner() -> str:
    """A token naming one attempt of one worker (host and pid help whoever reads the claim while debugging)."""
    return f"{socket.gethostname()}:{os.getpid()}:{short_id(8)}"


@dataclass(frozen=True)
class Claim:
    """What a claim object says."""

    owner: str
    state: State
    expires_at: float  # seconds since the epoch; only meaningful while `running`
    reason: str = ""

    def live(self, now: float) -> bool:
        """Someone holds the run right now."""
        return self.state == "running" and self.expires_at > now

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Claim:
        """A claim that cannot be read counts as released: a stray object must not block the run forever."""
        try:
            raw = json.loads(data)
            state: State = _STATES.get(raw["state"], "released")
            return cls(str(raw["owner"]), state, float(raw["expires_at"]), str(raw.get("reason", "")))
        except (ValueError, TypeError, KeyError):
            return cls("", "released", 0.0)


@dataclass
class Lease:
    """A claim this worker holds: `etag` is the version it last wrote; `lost` once someone else took it over."""

    key: str
    owner: str
    etag: str
    lost: bool = False


@dataclass
class RunClaims:
    store: ObjectStore
    lease_s: float
    clock: Callable[[], float] = time.time

    async def acquire(self, key: str, owner: str) -> Lease | Claim:
        """Claim the run for `owner`; when someone else holds it (or it failed), return their claim instead.

        Raises `svd.errors.Unavailable` when the store cannot be reached (nothing paid yet: retry the message)."""
        mine = Claim(owner, "running", self.clock() + self.lease_s)
        try:
            return Lease(key, owner, await self.store.put_conditional(key, mine.encode(), CONTENT_TYPE))
        except FailedPrecondition:
            pass
        for _ in range(3):  # each pass is one lost race against another worker changing the claim
            try:
                data, etag = await self.store.get_versioned(key)
            except NotFound:  # gone between our put and this read: try creating it again
                try:
                    return Lease(key, owner, await self.store.put_conditional(key, mine.encode(), CONTENT_TYPE))
                except FailedPrecondition:
                    continue
            current = Claim.decode(data)
            if current.owner == owner:  # our own create landed, its answer was lost and the retry refused
                return Lease(key, owner, etag)
            if current.state == "failed" or current.live(self.clock()):
                return current
            try:
                lease = Lease(
                    key, owner, await self.store.put_conditional(key, mine.encode(), CONTENT_TYPE, if_match=etag)
                )
            except FailedPrecondition:
                continue
            log.info("took over the claim %s from %s (%s)", key, current.owner or "?", current.state)
            return lease
        return Claim("another worker", "running", self.clock() + self.lease_s)

    async def renew(self, lease: Lease) -> None:
        """Push the claim's expiry out by a lease; marks the lease lost when someone else took the run over."""
        await self._write(lease, Claim(lease.owner, "running", self.clock() + self.lease_s))

    async def release(self, lease: Lease) -> None:
        """Give the run up without a still, so the next delivery need not wait for the lease to run out."""
        await self._write(lease, Claim(lease.owner, "released", 0.0))

    async def fail(self, lease: Lease, reason: str) -> None:
        """Record that the run's still can never be made, and why (a redelivery repeats the failure for free)."""
        await self._write(lease, Claim(lease.owner, "failed", 0.0, reason))

    async def _write(self, lease: Lease, claim: Claim) -> None:
        if lease.lost:
            return
        for _ in range(2):
            try:
                lease.etag = await self.store.put_conditional(
                    lease.key, claim.encode(), CONTENT_TYPE, if_match=lease.etag
                )
                return
            except FailedPrecondition:
                pass
            try:
                data, etag = await self.store.get_versioned(lease.key)
            except NotFound:
                break
            if Claim.decode(data).owner != lease.owner:
                break
            lease.etag = etag  # our previous write landed unacknowledged: carry on from it
        lease.lost = True
        log.warning("claim %s was taken over by another worker; %s no longer holds it", lease.key, lease.owner)
