"""Billing rules (pure)."""

from __future__ import annotations

import pytest

from billing import domain
from billing.domain import AccountState
from svd.errors import FailedPrecondition, InvalidArgument


def test_hold_reduces_available_not_balance() -> None:
    state = domain.after_hold(AccountState(100, 0), 15)
    assert (state.balance, state.held, state.available) == (100, 15, 85)


def test_insufficient_credits_message() -> None:
    with pytest.raises(FailedPrecondition, match="insufficient credits: need 15, available 3"):
        domain.after_hold(AccountState(18, 15), 15)


def test_consume_releases_the_remainder() -> None:
    state = domain.after_consume(AccountState(100, 25), held=25, consumed=12)
    assert (state.balance, state.held) == (88, 0)


def test_consume_more_than_held_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        domain.after_consume(AccountState(100, 15), held=15, consumed=16)


def test_seed_rates() -> None:
    assert domain.DEFAULT_RATES[("runway", 5)] == 15
    assert domain.DEFAULT_RATES[("runway", 10)] == 25
    assert domain.DEFAULT_RATES[("kling", 5)] == 12
