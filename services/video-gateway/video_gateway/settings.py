"""Video-gateway settings (environment).

Provider keys: `RUNWAY_API_KEY` / `FAL_API_KEY` (one key each, the seed's names) and `RUNWAY_API_KEYS` /
`FAL_API_KEYS` (several, comma separated); together they form each provider's key pool. A provider with no key
is not configured. Keys are stored encrypted with `PROVIDER_KEY_ENCRYPTION_KEY` (a Fernet key; several comma
separated to rotate it: the first encrypts, any decrypts). Without it a throwaway key encrypts them, and a replica
can use only the keys it is itself configured with (set it in production).

Submits have timeouts of their own (`RUNWAY_SUBMIT_TIMEOUT_S`, `KLING_SUBMIT_TIMEOUT_S`, long): a submit whose answer
is not awaited may still have created a paid task, and is never sent again, so it is given time to answer. Status and
cancel calls use `PROVIDER_TIMEOUT_S`. The submit claim's staleness and the shutdown grace are derived from them.

`RUNWAY_MAX_IN_FLIGHT` / `KLING_MAX_IN_FLIGHT` cap the tasks in flight at each provider (its account's concurrency; 0,
the default: no cap), counted across replicas; a submit over the cap waits, rechecking every `PROVIDER_SLOT_RECHECK_S`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings
from video_gateway.providers import runway_models
from video_gateway.providers.runway_models import RunwayModel

CommaList = Annotated[list[str], NoDecode]


class GatewaySettings(BaseServiceSettings, DatabaseSettings, SpacesSettings):
    database_pool_size: int = 8
    # Connections for the per-call writes (key leases, check counters) that commit without waiting for the WAL. A poll
    # check holds one for a statement at a time, twice, so a fraction of VIDEO_POLL_CONCURRENCY is enough.
    database_relaxed_pool_size: int = 16

    runway_api_key: str = ""
    runway_api_keys: CommaList = []
    runway_base_url: str = "https://api.dev.runwayml.com"
    runway_api_version: str = "2024-11-06"
    # The Runway model (`providers.runway_models.MODELS`: gen4_turbo, gen4.5, veo3.1, veo3.1_fast, veo3), then the
    # models tried, in order, for a clip it cannot make (veo3.1 has no 10 s and no square clip). When none can, the
    # submit moves to Kling without calling Runway. The ratio follows the deliverable's aspect (largest per model).
    runway_model: str = "gen4_turbo"
    runway_fallback_models: CommaList = []

    fal_api_key: str = ""
    fal_api_keys: CommaList = []
    kling_endpoint: str = "fal-ai/kling-video/v1.6/standard/image-to-video"
    kling_negative_prompt: str = "blur, distort, and low quality"
    kling_cfg_scale: float = 0.5

    provider_key_encryption_key: str = ""
    # A 429 without Retry-After cools the key down this long.
    provider_key_cooldown_s: float = 30.0

    # Key usage (one row per provider call) is kept this long, then pruned.
    key_usage_retention_days: float = 14.0
    # Usage events held in memory while the database is unreachable; past this the oldest are dropped (and counted).
    key_usage_buffer_max: int = 100_000

    # Per attempt of a status or cancel call (a read: repeated at the next tick if it fails).
    provider_timeout_s: float = 20.0
    # How long a submit waits for the provider's answer once its request is sent. A submit that times out after
    # sending fails the job ("not resubmitted so it is not paid twice"): it is never sent again.
    runway_submit_timeout_s: float = 120.0
    kling_submit_timeout_s: float = 120.0
    # Connecting (and waiting for a pooled connection): a submit that fails here never left and may be retried.
    provider_connect_timeout_s: float = 10.0
    provider_submit_attempts: int = 4
    # Retries of a submit the provider refused or never received (429, 401/403, no connection) start only within
    # this long, per provider; one last request may then take its submit timeout.
    provider_submit_deadline_s: float = 25.0
    # Added to the longest submit request to get the submit claim's staleness (see `submit_claim_stale_after_s`).
    submit_claim_margin_s: float = 30.0
    # How long a task id the provider answered with is kept trying to be recorded through a database outage, for a
    # message without a job deadline (with one: until the deadline).
    submit_record_budget_s: float = 1800.0
    # On SIGTERM running handlers get this long: a submit in flight is let finish (its answer is never lost). Unless
    # set, the longest submit request plus 30 s (160 s with the defaults above; the default here is that figure, which
    # is what deployment tools read).
    shutdown_grace_s: float = 160.0
    # How the still reaches the provider: `url` (presigned), `data_uri`, or `auto` (a presigned HTTPS URL on a host
    # name when the store has one, else a data URI while it fits the size limit).
    prompt_image: Literal["auto", "url", "data_uri"] = "auto"
    prompt_image_max_data_uri_bytes: int = 5 * 1024 * 1024
    still_url_ttl_s: int = 3600

    video_poll_initial_delay_s: float = 45.0
    video_poll_interval_s: float = 30.0
    video_poll_max_attempts: int = 15
    # The poll window above starts when the provider starts the task; before that (THROTTLED, IN_QUEUE) a task may
    # wait in the provider's queue at most this long, then the job times out and the task is cancelled.
    video_poll_queue_max_s: float = Field(default=1800.0, gt=0)
    video_poll_concurrency: int = 64

    # Tasks in flight at once per provider account (see `capacity`); 0: unlimited.
    runway_max_in_flight: int = Field(default=0, ge=0)
    kling_max_in_flight: int = Field(default=0, ge=0)
    # How often a submit waiting for a provider slot looks again (its message waits in JetStream meanwhile).
    provider_slot_recheck_s: float = Field(default=5.0, gt=0)

    @field_validator("runway_api_keys", "fal_api_keys", "runway_fallback_models", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _known_runway_models(self) -> Self:
        self.runway_models()  # an unknown model stops the service at start, with its name
        return self

    def runway_models(self) -> tuple[RunwayModel, ...]:
        """RUNWAY_MODEL, then RUNWAY_FALLBACK_MODELS, from the model table (duplicates dropped)."""
        names = dict.fromkeys([self.runway_model, *self.runway_fallback_models])
        return tuple(runway_models.model(name) for name in names)

    @model_validator(mode="after")
    def _grace_covers_a_submit(self) -> Self:
        if "shutdown_grace_s" not in self.model_fields_set:
            self.shutdown_grace_s = self.submit_request_s(("runway", "kling")) + 30.0
        return self

    def max_in_flight(self, provider: str) -> int:
        """The cap on `provider`'s tasks in flight (0: none)."""
        return self.runway_max_in_flight if provider == "runway" else self.kling_max_in_flight

    def submit_timeout_s(self, provider: str) -> float:
        return self.runway_submit_timeout_s if provider == "runway" else self.kling_submit_timeout_s

    def submit_request_s(self, providers: Iterable[str]) -> float:
        """The longest one submit request to any of `providers` can take: connecting, then waiting for the answer."""
        return max((self.submit_timeout_s(p) for p in providers), default=0.0) + self.provider_connect_timeout_s

    def submit_claim_stale_after_s(self, providers: Iterable[str]) -> float:
        """When a submit claim not renewed since is taken over. Every request renews it just before it goes out, so
        it must outlast the longest request plus the longest wait between two (a Retry-After, capped) with a margin:
        a claim that goes stale while its holder still waits for an answer would fail the run needlessly."""
        from video_gateway.pooled import MAX_RETRY_WAIT_S  # settings stay importable without the adapters

        return self.submit_request_s(providers) + MAX_RETRY_WAIT_S + self.submit_claim_margin_s

    def keys(self, provider: str) -> list[str]:
        """The configured keys of `provider` ("runway" or "kling"), single variable first, without duplicates."""
        single, many = (
            (self.runway_api_key, self.runway_api_keys)
            if provider == "runway"
            else (self.fal_api_key, self.fal_api_keys)
        )
        return list(dict.fromkeys(k.strip() for k in [single, *many] if k.strip()))
