"""Dispatcher settings (environment)."""

from pydantic import Field

from dispatcher.admission.settings import AdmissionSettings
from dispatcher.console.settings import ConsoleSettings
from dispatcher.costs import DEFAULT_PRICES, ProviderPrice
from dispatcher.watch.settings import WatchSettings
from dispatcher.webhooks.settings import WebhookSettings
from svd.logos import MAX_BRAND_LOGO_PIXELS
from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings

# The pipeline's worst case: a still frame (image call with its retries, ~8 min), a submit (~3 min), 45 s + 14 x 30 s
# of polling, storing a large file (up to 30 min) — about 49 minutes — plus room for a 10-minute outage of any part.
DEFAULT_JOB_DEADLINE_S = 3600


class DispatcherSettings(
    BaseServiceSettings,
    DatabaseSettings,
    SpacesSettings,
    WatchSettings,
    WebhookSettings,
    AdmissionSettings,
    ConsoleSettings,
):
    billing_grpc_target: str
    media_grpc_target: str
    # The key this service presents to billing and media-store.
    svd_service_api_key: str = Field(min_length=1)
    # Every job must end by its deadline, counted from its admission (waiting in the queue has its own ceiling,
    # ADMISSION_QUEUE_MAX_WAIT_S): retries of transient errors stop there, and the sweeper fails a job still
    # active past it, cancels its provider task and releases its hold.
    job_deadline_s: int = Field(default=DEFAULT_JOB_DEADLINE_S, ge=10)
    # The hold outlives the job's deadline by this much, so the sweeper (not the hold's own expiry, which would make
    # a late video free) is what releases a stuck job's credits.
    hold_ttl_margin_s: int = Field(default=900, ge=10)
    # How often each replica looks for active jobs past their deadline.
    deadline_sweep_interval_s: float = Field(default=30.0, gt=0)
    # Ids of processed client approvals are kept this long to de-duplicate redeliveries, then pruned.
    processed_events_retention_days: float = Field(default=30.0, gt=0)
    # PutBrandAssets refuses a logo of more pixels than this (read from its header) before decoding it.
    brand_logo_max_pixels: int = Field(default=MAX_BRAND_LOGO_PIXELS, gt=0)
    # What each video provider charges the platform (JSON: provider -> {model, credits_per_second and usd_per_credit,
    # or usd_per_second}); a job records its estimated and actual provider cost from it.
    provider_prices: dict[str, ProviderPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @property
    def hold_ttl_s(self) -> int:
        return self.job_deadline_s + self.hold_ttl_margin_s
