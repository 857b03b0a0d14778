"""Pure billing rules: rates, availability and the checks every credit movement must pass."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from svd.errors import FailedPrecondition, InvalidArgument

AI_VIDEO = "ai_video_generation"
CREDIT_TYPES = frozenset({AI_VIDEO})


class HoldState(StrEnum):
    HELD = "held"
    CONSUMED = "consumed"
    RELEASED = "released"
    EXPIRED = "expired"


class EntryKind(StrEnum):
    GRANT = "grant"
    HOLD = "hold"
    CONSUME = "consume"
    RELEASE = "release"
    EXPIRE = "expire"


# Seed rates (credits per clip); the live table is billing.rates, which operators may change.
DEFAULT_RATES: dict[tuple[str, int], int] = {
    ("runway", 5): 15,
    ("runway", 10): 25,
    ("kling", 5): 12,
    ("kling", 10): 22,
}


@dataclass(frozen=True)
class AccountState:
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def check_credit_type(credit_type: str) -> str:
    credit_type = credit_type or AI_VIDEO
    if credit_type not in CREDIT_TYPES:
        raise InvalidArgument(f"unknown credit type {credit_type!r}")
    return credit_type


def check_positive(amount: int, what: str = "amount") -> None:
    if amount <= 0:
        raise InvalidArgument(f"{what} must be positive, got {amount}")


def after_hold(account: AccountState, amount: int) -> AccountState:
    """The account once `amount` is held; insufficient credits is a failed precondition."""
    check_positive(amount)
    if amount > account.available:
        raise FailedPrecondition(f"insufficient credits: need {amount}, available {account.available}")
    return AccountState(account.balance, account.held + amount)


def after_consume(account: AccountState, held: int, consumed: int) -> AccountState:
    """The account once `consumed` of a `held` hold is spent and the remainder released."""
    if consumed < 0 or consumed > held:
        raise InvalidArgument(f"consume amount must be between 0 and the held {held}, got {consumed}")
    return AccountState(account.balance - consumed, account.held - held)


def after_release(account: AccountState, held: int) -> AccountState:
    return AccountState(account.balance, account.held - held)


def after_grant(account: AccountState, amount: int) -> AccountState:
    check_positive(amount)
    return AccountState(account.balance + amount, account.held)
