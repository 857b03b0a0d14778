"""Pure billing rules: credit types, holds and balances, request checks, and what each ledger outcome means.

The credit movements themselves run inside PostgreSQL (one function per movement, see migration 0002) so that each
is one round trip under the account's row lock; this module says which requests may be sent and turns the
functions' outcomes into domain errors with messages a caller can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from svd.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound

AI_VIDEO = "ai_video_generation"
CREDIT_TYPES = frozenset({AI_VIDEO})
MAX_TTL_S = 7 * 24 * 3600
MAX_AMOUNT = 10**12


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


class Outcome(StrEnum):
    """What a ledger function answered (see migration 0002)."""

    OK = "ok"  # the movement happened
    SAME = "same"  # an idempotent replay: the first outcome, or the hold's final state
    INSUFFICIENT = "insufficient"
    CONFLICT = "conflict"  # resolved the other way already; nothing changed
    MISMATCH = "mismatch"  # a consume replayed with another amount than the first (migration 0004); nothing changed
    INVALID = "invalid"
    NOT_FOUND = "not_found"


# Seed rates (credits per clip); the live table is billing.rates, which operators change with SetRate.
DEFAULT_RATES: dict[tuple[str, int], int] = {
    ("runway", 5): 15,
    ("runway", 10): 25,
    ("kling", 5): 12,
    ("kling", 10): 22,
    ("local", 5): 1,
    ("local", 10): 2,
}
PROVIDERS = frozenset(provider for provider, _ in DEFAULT_RATES)


@dataclass(frozen=True)
class Balance:
    tenant_id: str
    credit_type: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True)
class Hold:
    reservation_id: str
    tenant_id: str
    credit_type: str
    amount: int
    state: HoldState
    job_id: str
    consumed_amount: int
    reason: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Rate:
    provider: str
    duration_seconds: int
    credit_type: str
    amount: int
    updated_at: datetime
    updated_by: str


def check_credit_type(credit_type: str) -> str:
    credit_type = credit_type or AI_VIDEO
    if credit_type not in CREDIT_TYPES:
        raise InvalidArgument(f"unknown credit type {credit_type!r}")
    return credit_type


def check_amount(amount: int, what: str = "amount") -> None:
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidArgument(f"{what} must be between 1 and {MAX_AMOUNT}, got {amount}")


def check_required(**fields: str) -> None:
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise InvalidArgument(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")


def check_ttl(ttl_s: int) -> None:
    if ttl_s <= 0 or ttl_s > MAX_TTL_S:
        raise InvalidArgument(f"ttl_seconds must be between 1 and {MAX_TTL_S}, got {ttl_s}")


def check_rate(provider: str, duration_seconds: int, amount: int) -> None:
    check_required(provider=provider)
    if duration_seconds <= 0:
        raise InvalidArgument(f"duration_seconds must be positive, got {duration_seconds}")
    # A free rate could be neither reserved nor consumed (both need at least 1 credit), so every job quoted at it
    # would be stuck; it is refused here rather than special-cased along the pipeline.
    if amount < 1:
        raise InvalidArgument(f"rate must be at least 1 credit, got {amount}")
    if amount > MAX_AMOUNT:
        raise InvalidArgument(f"a rate must be at most {MAX_AMOUNT} credits, got {amount}")


def insufficient(need: int, available: int) -> FailedPrecondition:
    return FailedPrecondition(f"insufficient credits: need {need}, available {available}")


def hold_error(
    outcome: Outcome,
    reservation_id: str,
    action: str,
    state: str | None,
    held: int | None,
    consumed: int | None = None,
    requested: int | None = None,
) -> DomainError:
    """The error for a consume / release that did not happen (outcome not OK or SAME)."""
    if outcome is Outcome.NOT_FOUND:
        return NotFound(f"reservation {reservation_id} not found")
    if outcome is Outcome.CONFLICT:
        return FailedPrecondition(f"reservation {reservation_id} is already {state}; cannot {action} it")
    if outcome is Outcome.MISMATCH:
        return FailedPrecondition(
            f"reservation {reservation_id} is already consumed for {consumed} credits;"
            f" a retry must consume the same amount, not {requested}"
        )
    if outcome is Outcome.INVALID:
        return InvalidArgument(f"consume amount must be between 1 and the held {held}")
    raise AssertionError(f"unexpected ledger outcome {outcome}")
