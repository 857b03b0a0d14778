"""Keeping a run's lease while work runs (the renewals faked; the SQL is exercised by the stack tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from media_store.leases import LeaseLost, Leases


@dataclass(frozen=True)
class FakeLeases(Leases):
    answers: list[bool | Exception] = field(default_factory=list)
    renewals: list[str] = field(default_factory=list)

    async def renew(self, media_id: str, owner: str) -> bool:
        self.renewals.append(owner)
        answer = self.answers[min(len(self.renewals), len(self.answers)) - 1] if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer


def leases(*answers: bool | Exception) -> FakeLeases:
    return FakeLeases(None, ttl_s=0.6, renew_every_s=0.05, answers=list(answers))  # type: ignore[arg-type]


async def test_work_runs_to_the_end_while_the_lease_is_renewed_and_heartbeats_sent() -> None:
    beats: list[int] = []

    async def heartbeat() -> None:
        beats.append(1)

    async def work() -> str:
        await asyncio.sleep(0.3)
        return "stored"

    kept = leases(True)
    assert await kept.hold("m", "me", heartbeat, work()) == "stored"
    assert len(kept.renewals) >= 3 and len(beats) == len(kept.renewals)


async def test_work_stops_as_soon_as_another_worker_holds_the_lease() -> None:
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(LeaseLost, match="another worker"):
        await leases(True, False).hold("m", "me", None, work())
    assert cancelled.is_set()


async def test_work_stops_before_a_lease_that_cannot_be_renewed_can_expire() -> None:
    async def work() -> None:
        await asyncio.sleep(10)

    async def failing_heartbeat() -> None:
        raise ConnectionError("nats down")

    kept = leases(OSError("database down"))
    with pytest.raises(LeaseLost, match="could not renew"):
        await kept.hold("m", "me", failing_heartbeat, work())
    # Fenced two renewal periods before the lease (0.6 s, 12 periods) can have run out, whatever the load.
    assert len(kept.renewals) <= 11


async def test_a_failing_renewal_that_recovers_keeps_the_work_going() -> None:
    async def work() -> str:
        await asyncio.sleep(0.4)
        return "done"

    assert await leases(True, OSError("blip"), True).hold("m", "me", None, work()) == "done"
