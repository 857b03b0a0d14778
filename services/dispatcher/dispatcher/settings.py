"""Dispatcher settings (environment)."""

from pydantic import Field

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings


class DispatcherSettings(BaseServiceSettings, DatabaseSettings, SpacesSettings):
    billing_grpc_target: str
    media_grpc_target: str
    # The key this service presents to billing and media-store.
    svd_service_api_key: str = Field(min_length=1)
    # A hold must outlive the whole pipeline: still frame + 45 s + 15 x 30 s of polling + storing, with margin.
    hold_ttl_s: int = 3600
    watch_poll_interval_s: float = 0.25
