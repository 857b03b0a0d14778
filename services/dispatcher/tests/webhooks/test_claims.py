"""When the deliverer claims: any free slot is filled, but with nearly all slots taken it waits for a quarter of
them to be free, or for CLAIM_TOP_UP_S after its last claim (a claim looks at every endpoint)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dispatcher.webhooks import delivery
from dispatcher.webhooks.delivery import CLAIM_TOP_UP_S, Deliverer
from dispatcher.webhooks.settings import WebhookSettings


@asynccontextmanager
async def _session() -> Any:
    yield _Session()


class _Session:
    def begin(self) -> Any:
        return _session()

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def deliverer(monkeypatch: pytest.MonkeyPatch, max_in_flight: int) -> tuple[Deliverer, list[int]]:
    asks: list[int] = []

    async def claim(session: Any, now: Any, lease_until: Any, per_endpoint: int, batch: int) -> list[Any]:
        asks.append(batch)
        return []

    monkeypatch.setattr(delivery.repo, "claim_deliveries", claim)
    settings = WebhookSettings(webhook_max_in_flight=max_in_flight)
    return Deliverer(_Session, None, None, settings), asks  # type: ignore[arg-type]


def occupy(deliverer: Deliverer, slots: int) -> list[asyncio.Future[None]]:
    held = [asyncio.get_running_loop().create_future() for _ in range(slots)]
    deliverer._in_flight.update(held)  # type: ignore[arg-type]
    return held


async def test_with_many_slots_free_every_round_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, asks = deliverer(monkeypatch, 8)
    occupy(worker, 6)  # 2 free: a quarter
    for _ in range(3):
        await worker.claim_and_start()
    assert asks == [2, 2, 2] and not worker.deferred


async def test_with_few_slots_free_a_claim_waits_for_more_or_for_the_top_up_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker, asks = deliverer(monkeypatch, 8)
    occupy(worker, 7)  # 1 free
    await worker.claim_and_start()
    assert asks == [1]
    await worker.claim_and_start()
    assert asks == [1] and worker.deferred
    await asyncio.sleep(CLAIM_TOP_UP_S * 1.2)
    await worker.claim_and_start()
    assert asks == [1, 1] and not worker.deferred


async def test_nothing_free_nothing_claimed(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, asks = deliverer(monkeypatch, 4)
    occupy(worker, 4)
    await worker.claim_and_start()
    assert asks == [] and not worker.deferred
