"""Fair admission rules: round-robin planning under both caps, queue positions, the credit check."""

from __future__ import annotations

from collections import Counter

import pytest

from dispatcher.admission.domain import Limits, TenantLoad, credit_shortfall, jobs_ahead, plan
from dispatcher.domain import waiting_label

LIMITS = Limits(jobs_max_in_flight=4, tenant_max_in_flight=2)


def test_a_burst_takes_only_its_tenant_cap_and_newcomers_go_first() -> None:
    # A has 24 waiting and was served before; B and C arrive later, never served.
    loads = [TenantLoad("A", 24, 0, 7), TenantLoad("B", 1, 0, None), TenantLoad("C", 1, 0, None)]
    assert plan(loads, LIMITS) == ["B", "C", "A", "A"]


def test_no_slot_beyond_either_cap() -> None:
    assert plan([TenantLoad("A", 10, 2, 1), TenantLoad("B", 5, 1, 2)], LIMITS) == ["B"]
    assert plan([TenantLoad("A", 10, 2, 1), TenantLoad("B", 5, 2, 2)], LIMITS) == []
    assert plan([TenantLoad("A", 0, 0, None)], LIMITS) == []


def test_slots_rotate_in_turn_order_and_spread_stays_within_one() -> None:
    tenants = [TenantLoad(f"t{i:02}", 50, 0, turn) for i, turn in enumerate([5, 3, None, 9, 1])]
    picks = plan(tenants, Limits(jobs_max_in_flight=13, tenant_max_in_flight=3))
    assert picks[:5] == ["t02", "t04", "t01", "t00", "t03"]  # never served, then oldest turn first
    counts = Counter(picks)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_position_counts_other_tenants_once_per_round() -> None:
    loads = [TenantLoad("A", 24, 2, 10), TenantLoad("B", 1, 0, None), TenantLoad("C", 3, 0, 4)]
    # A's oldest waiting job: B and C go first (their turns come before A's).
    assert jobs_ahead("A", 0, loads) == 2
    # A's fourth: 3 of A's own, B's one job, C's three (one per round, C before A in each).
    assert jobs_ahead("A", 3, loads) == 3 + 1 + 3
    # C's first goes after B's (never served) but before A's.
    assert jobs_ahead("C", 0, loads) == 1
    assert waiting_label(3) == "Waiting for a free slot: 3 ahead"


@pytest.mark.parametrize(
    ("available", "set_aside", "need", "reason"),
    [
        (30, 0, 15, None),
        (30, 15, 15, None),
        (
            30,
            30,
            15,
            "insufficient credits: need 15, available 0 (30 of 30 set aside for earlier jobs waiting for a slot)",
        ),
        (3, 0, 15, "insufficient credits: need 15, available 3"),
    ],
)
def test_credit_check_counts_waiting_jobs(available: int, set_aside: int, need: int, reason: str | None) -> None:
    assert credit_shortfall(available, set_aside, need) == reason
