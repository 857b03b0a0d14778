"""Settings of outbound webhooks (environment): retries, timeouts, concurrency, safety and retention."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about 27.6 hours in all.
DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,36000"


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    # Fernet key(s) the signing secrets are encrypted with at rest (comma-separated to rotate: the first encrypts).
    # Without it the Webhooks API refuses to create endpoints (nothing could be signed after a restart).
    webhook_secret_encryption_key: str = ""
    # Seconds to wait before each retry (the first attempt is immediate); a failure after the last is final.
    webhook_retry_schedule_s: str = DEFAULT_RETRY_SCHEDULE
    # One attempt's whole budget (connect, send, answer); the response body is read up to the cap.
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    webhook_response_cap_bytes: int = Field(default=4096, ge=0)
    # Attempts in flight per endpoint (across replicas) and per dispatcher process.
    webhook_endpoint_concurrency: int = Field(default=4, ge=1)
    webhook_max_in_flight: int = Field(default=256, ge=1)
    # A Retry-After longer than this is capped (an endpoint cannot park its deliveries for a week).
    webhook_retry_after_max_s: float = Field(default=36000.0, gt=0)
    # At most one job.progress per job this often (the newest one wins).
    webhook_progress_interval_s: float = Field(default=5.0, ge=0)
    # An endpoint whose every attempt failed for this long is disabled, and its tenant told.
    webhook_disable_after_s: float = Field(default=5 * 86400.0, gt=0)
    # How often each replica looks for endpoints to disable.
    webhook_health_interval_s: float = Field(default=60.0, gt=0)
    # The previous secret keeps signing this long after RotateSecret.
    webhook_secret_overlap_s: float = Field(default=86400.0, gt=0)
    # Deliveries (and their attempts) that ended are kept this long, then pruned.
    webhook_retention_days: float = Field(default=30.0, gt=0)
    # How often each replica prunes them (the first time a minute after start, or sooner if this is shorter).
    webhook_prune_interval_s: float = Field(default=3600.0, gt=0)
    # How often the worker looks for due work when nothing woke it.
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    # Development only: endpoints may be private or loopback addresses, and plain http is allowed to loopback.
    # Link-local addresses (the cloud metadata service) stay refused.
    webhooks_allow_private: bool = False
    # How long the URLs in job.succeeded stay valid.
    webhook_media_url_ttl_s: int = Field(default=24 * 3600, gt=0, le=7 * 24 * 3600)

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @property
    def retry_schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.webhook_retry_schedule_s)


def parse_schedule(value: str) -> tuple[float, ...]:
    """`"5,300,1800"` → (5.0, 300.0, 1800.0); empty means no retry. Negative or non-numeric entries are refused."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    try:
        delays = tuple(float(part) for part in parts)
    except ValueError as exc:
        raise ValueError("WEBHOOK_RETRY_SCHEDULE_S must be comma-separated seconds") from exc
    if any(delay < 0 for delay in delays):
        raise ValueError("WEBHOOK_RETRY_SCHEDULE_S must not be negative")
    return delays
