"""Fair admission rules (pure): which tenants get the free slots, where a waiting job stands, what it says, and
whether a tenant can afford one more job.

Round-robin by turns: each admission gives its tenant a new, higher turn number; the next slot goes to the eligible
tenant (jobs waiting, under its own cap) whose latest turn is oldest, never-admitted tenants first. So one tenant's
burst delays another tenant by at most one slot, and within a tenant the oldest job goes first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    jobs_max_in_flight: int
    tenant_max_in_flight: int


@dataclass(frozen=True)
class TenantLoad:
    tenant_id: str
    queued: int
    running: int
    last_turn: int | None  # None: never admitted


def _order(load: TenantLoad) -> tuple[int, int, str]:
    """Rotation order: never-admitted tenants first, then the oldest latest turn."""
    return (0, 0, load.tenant_id) if load.last_turn is None else (1, load.last_turn, load.tenant_id)


def plan(loads: Iterable[TenantLoad], limits: Limits) -> list[str]:
    """The tenants the free slots go to, in admission order (a tenant appears once per job it gets)."""
    loads = list(loads)
    free = limits.jobs_max_in_flight - sum(max(0, load.running) for load in loads)
    queued = {load.tenant_id: load.queued for load in loads}
    running = {load.tenant_id: load.running for load in loads}
    heap = [(_order(load), load.tenant_id) for load in loads]
    heapq.heapify(heap)
    picks: list[str] = []
    while free > 0 and heap:
        _, tenant = heapq.heappop(heap)
        if queued[tenant] <= 0 or running[tenant] >= limits.tenant_max_in_flight:
            continue  # nothing waiting, or at its own cap: it sits out this pass
        picks.append(tenant)
        queued[tenant] -= 1
        running[tenant] += 1
        free -= 1
        heapq.heappush(heap, ((2, len(picks), tenant), tenant))  # served now: behind everyone else
    return picks


def jobs_ahead(tenant_id: str, rank: int, loads: Iterable[TenantLoad]) -> int:
    """How many waiting jobs go before a job that has `rank` older jobs of its own tenant waiting, if nothing else
    arrived: its tenant's older ones, and from every other tenant one per earlier round (plus one in its own round
    when that tenant's turn comes first), never more than that tenant has waiting."""
    loads = list(loads)
    mine = next((load for load in loads if load.tenant_id == tenant_id), None)
    mine_order = _order(mine) if mine is not None else (0, 0, tenant_id)
    ahead = rank
    for load in loads:
        if load.tenant_id == tenant_id or load.queued <= 0:
            continue
        ahead += min(load.queued, rank + (1 if _order(load) < mine_order else 0))
    return ahead


def credit_shortfall(available: int, set_aside: int, need: int) -> str | None:
    """Why a tenant cannot afford one more job (None when it can): what it has, less what its jobs already waiting
    for a slot will reserve when admitted, must cover this job's conservative hold. The wording is billing's."""
    left = available - set_aside
    if left >= need:
        return None
    reason = f"insufficient credits: need {need}, available {max(0, left)}"
    if set_aside:
        reason += f" ({set_aside} of {available} set aside for earlier jobs waiting for a slot)"
    return reason
