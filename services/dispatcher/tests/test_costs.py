"""The provider price table (pure): Runway by its credits per second, fal's Kling by dollars per second; which failed
jobs the provider charged for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from dispatcher.costs import DEFAULT_PRICES, ProviderPrice, charged_when_failed, cost_of


def test_runway_gen4_turbo_is_five_credits_a_second_at_a_cent() -> None:
    assert cost_of(DEFAULT_PRICES, "runway", 5) == (Decimal("0.2500"), "gen4_turbo")
    assert cost_of(DEFAULT_PRICES, "runway", 10) == (Decimal("0.5000"), "gen4_turbo")


def test_kling_is_priced_per_second() -> None:
    assert cost_of(DEFAULT_PRICES, "kling", 10) == (Decimal("0.5000"), "kling-v2.1-standard")


def test_a_provider_without_a_price_has_no_cost() -> None:
    assert cost_of(DEFAULT_PRICES, "sora", 5) is None


def test_the_table_is_read_from_settings_json() -> None:
    table = TypeAdapter(dict[str, ProviderPrice]).validate_json(
        '{"runway": {"model": "gen4.5", "credits_per_second": 12, "usd_per_credit": "0.01"}}'
    )
    assert cost_of(table, "runway", 5) == (Decimal("0.6000"), "gen4.5")


@pytest.mark.parametrize(
    "price",
    [
        {"model": "m"},
        {"model": "m", "credits_per_second": 5},
        {"model": "m", "credits_per_second": 5, "usd_per_credit": 0.01, "usd_per_second": 0.05},
        {"model": "m", "usd_per_second": -1},
    ],
)
def test_a_price_is_one_of_the_two_shapes(price: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProviderPrice.model_validate(price)


def test_a_failed_job_was_charged_only_when_its_task_finished_at_the_provider() -> None:
    assert charged_when_failed("storing", "task-1")  # the video was ready: the provider billed it
    for phase in ("polling", "submitting", "still_frame", "reserving"):  # failed, timed out or never made there
        assert not charged_when_failed(phase, "task-1")
    assert not charged_when_failed("storing", "")
