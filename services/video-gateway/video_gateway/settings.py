"""Video-gateway settings (environment)."""

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings


class GatewaySettings(BaseServiceSettings, DatabaseSettings, SpacesSettings):
    runway_api_key: str = ""
    runway_base_url: str = "https://api.dev.runwayml.com"
    runway_api_version: str = "2024-11-06"
    # Gen-3 Alpha Turbo is retired from the API: the model is a setting, defaulting to a current turbo model.
    runway_model: str = "gen4_turbo"
    runway_ratio_portrait: str = "1080:1920"
    runway_ratio_square: str = "960:960"
    provider_timeout_s: float = 30.0
    provider_submit_attempts: int = 4
    # The still is handed to the provider as a presigned URL valid this long.
    still_url_ttl_s: int = 3600
    video_poll_initial_delay_s: float = 45.0
    video_poll_interval_s: float = 30.0
    video_poll_max_attempts: int = 15
