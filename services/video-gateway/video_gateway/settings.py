"""Video-gateway settings (environment).

Provider keys: `RUNWAY_API_KEY` / `FAL_API_KEY` (one key each, the seed's names) and `RUNWAY_API_KEYS` /
`FAL_API_KEYS` (several, comma separated); together they form each provider's key pool. A provider with no key
is not configured. Keys are stored encrypted with `PROVIDER_KEY_ENCRYPTION_KEY` (a Fernet key; several comma
separated to rotate it: the first encrypts, any decrypts). Without it a throwaway key encrypts them, and a replica
can use only the keys it is itself configured with (set it in production).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import field_validator
from pydantic_settings import NoDecode

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings

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
    # Gen-3 Alpha Turbo is retired from the API: the model is a setting, defaulting to a current turbo model.
    runway_model: str = "gen4_turbo"
    # gen4_turbo's portrait and square ratios.
    runway_ratio_portrait: str = "720:1280"
    runway_ratio_square: str = "960:960"

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

    provider_timeout_s: float = 20.0
    provider_submit_attempts: int = 4
    # A submit (all its retries, on one provider) gives up after this long, so a handler stays within its ack wait.
    provider_submit_deadline_s: float = 25.0
    # How the still reaches the provider: `url` (presigned), `data_uri`, or `auto` (a presigned HTTPS URL on a host
    # name when the store has one, else a data URI while it fits the size limit).
    prompt_image: Literal["auto", "url", "data_uri"] = "auto"
    prompt_image_max_data_uri_bytes: int = 5 * 1024 * 1024
    still_url_ttl_s: int = 3600

    video_poll_initial_delay_s: float = 45.0
    video_poll_interval_s: float = 30.0
    video_poll_max_attempts: int = 15
    video_poll_concurrency: int = 64

    @field_validator("runway_api_keys", "fal_api_keys", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def keys(self, provider: str) -> list[str]:
        """The configured keys of `provider` ("runway" or "kling"), single variable first, without duplicates."""
        single, many = (
            (self.runway_api_key, self.runway_api_keys)
            if provider == "runway"
            else (self.fal_api_key, self.fal_api_keys)
        )
        return list(dict.fromkeys(k.strip() for k in [single, *many] if k.strip()))
