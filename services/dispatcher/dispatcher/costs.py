"""What a video costs the platform at its provider (pure): a price table per provider, model and duration, as
settings. Runway bills its own credits per output second (gen4_turbo: 5 credits/s at $0.01 a credit); fal's Kling
bills dollars per second. A job records the cost estimated before the paid call and the actual one at completion,
beside the credits it charges its tenant (the margin the platform bills on).

The providers bill a task for its output: a task that finished (its video ready) is paid, whatever became of the job
afterwards; one that failed at the provider or was stopped before it finished is not. So a job that failed at
storing records its task's actual cost too, and a task is counted once per job however many attempts fetch it (an
attempt that starts over pays a second task, which adds to the job's actual cost)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CENT_FRACTIONS = Decimal("0.0001")


class ProviderPrice(BaseModel):
    """One provider's price for the model the gateway uses: `credits_per_second` times `usd_per_credit` (Runway), or
    `usd_per_second` (fal)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    credits_per_second: Decimal | None = Field(default=None, ge=0)
    usd_per_credit: Decimal | None = Field(default=None, ge=0)
    usd_per_second: Decimal | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_way_to_price(self) -> ProviderPrice:
        by_credits = self.credits_per_second is not None and self.usd_per_credit is not None
        if by_credits == (self.usd_per_second is not None):
            raise ValueError("give either credits_per_second with usd_per_credit, or usd_per_second")
        return self

    @property
    def per_second(self) -> Decimal:
        if self.usd_per_second is not None:
            return self.usd_per_second
        assert self.credits_per_second is not None and self.usd_per_credit is not None
        return self.credits_per_second * self.usd_per_credit

    def cost(self, duration_seconds: int) -> Decimal:
        """US dollars for a video of `duration_seconds`, to a hundredth of a cent."""
        return (self.per_second * duration_seconds).quantize(CENT_FRACTIONS, rounding=ROUND_HALF_UP)


# Public list prices (late 2026): Runway gen4_turbo 5 credits/s at $0.01; fal Kling 2.1 standard $0.05/s.
DEFAULT_PRICES: dict[str, ProviderPrice] = {
    "runway": ProviderPrice(model="gen4_turbo", credits_per_second=Decimal(5), usd_per_credit=Decimal("0.01")),
    "kling": ProviderPrice(model="kling-v2.1-standard", usd_per_second=Decimal("0.05")),
}


def cost_of(prices: dict[str, ProviderPrice], provider: str, duration_seconds: int) -> tuple[Decimal, str] | None:
    """(US dollars, model) for a video of `provider`, or None when the table has no price for it."""
    price = prices.get(provider)
    return None if price is None else (price.cost(duration_seconds), price.model)


def charged_when_failed(failed_phase: str, provider_job_id: str) -> bool:
    """Whether a job that failed at `failed_phase` (a `JobStep` short name) had its provider task finished, so paid:
    storing starts only once the provider's video is ready."""
    return bool(provider_job_id) and failed_phase == "storing"
