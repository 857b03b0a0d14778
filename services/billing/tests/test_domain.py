"""Billing rules (pure): request checks, balances, and the errors each ledger outcome becomes."""

from __future__ import annotations

import pytest

from billing import domain
from billing.domain import Balance, Outcome
from svd.errors import FailedPrecondition, InvalidArgument, NotFound


def test_available_is_balance_minus_held() -> None:
    assert Balance("t", domain.AI_VIDEO, 100, 15).available == 85


def test_insufficient_credits_message() -> None:
    error = domain.insufficient(15, 3)
    assert isinstance(error, FailedPrecondition)
    assert error.message == "insufficient credits: need 15, available 3"


@pytest.mark.parametrize("amount", [0, -1, domain.MAX_AMOUNT + 1])
def test_amount_must_be_positive_and_bounded(amount: int) -> None:
    with pytest.raises(InvalidArgument):
        domain.check_amount(amount)


def test_ttl_bounds() -> None:
    domain.check_ttl(1)
    for bad in (0, -5, domain.MAX_TTL_S + 1):
        with pytest.raises(InvalidArgument):
            domain.check_ttl(bad)


def test_unknown_credit_type_is_invalid_and_empty_means_video() -> None:
    assert domain.check_credit_type("") == domain.AI_VIDEO
    with pytest.raises(InvalidArgument, match="unknown credit type"):
        domain.check_credit_type("gold")


def test_required_fields_named() -> None:
    with pytest.raises(InvalidArgument, match="tenant_id, idempotency_key are required"):
        domain.check_required(tenant_id="", idempotency_key="")


def test_hold_errors() -> None:
    assert isinstance(domain.hold_error(Outcome.NOT_FOUND, "r1", "consume", None, None), NotFound)
    conflict = domain.hold_error(Outcome.CONFLICT, "r1", "consume", "released", 15)
    assert isinstance(conflict, FailedPrecondition)
    assert conflict.message == "reservation r1 is already released; cannot consume it"
    invalid = domain.hold_error(Outcome.INVALID, "r1", "consume", "held", 15)
    assert isinstance(invalid, InvalidArgument) and "between 1 and the held 15" in invalid.message
    mismatch = domain.hold_error(Outcome.MISMATCH, "r1", "consume", "consumed", 25, 15, 1)
    assert isinstance(mismatch, FailedPrecondition)
    assert mismatch.message == (
        "reservation r1 is already consumed for 15 credits; a retry must consume the same amount, not 1"
    )


def test_rate_checks() -> None:
    domain.check_rate("runway", 5, 1)
    with pytest.raises(InvalidArgument, match="rate must be at least 1"):
        domain.check_rate("runway", 5, 0)  # a free rate could be neither reserved nor consumed
    with pytest.raises(InvalidArgument):
        domain.check_rate("runway", 5, domain.MAX_AMOUNT + 1)
    with pytest.raises(InvalidArgument):
        domain.check_rate("runway", 0, 15)
    with pytest.raises(InvalidArgument):
        domain.check_rate("", 5, 15)
    with pytest.raises(InvalidArgument):
        domain.check_rate("runway", 5, -1)


def test_seed_rates() -> None:
    assert domain.DEFAULT_RATES[("runway", 5)] == 15
    assert domain.DEFAULT_RATES[("runway", 10)] == 25
    assert domain.DEFAULT_RATES[("kling", 5)] == 12
