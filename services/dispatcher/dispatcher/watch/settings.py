"""Settings of `WatchJob` streams (environment): how long one may live, and how it follows a job's changes."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WatchSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    # A stream ends (status OK, no terminal update) after this long, so no stream is held open forever; a client that
    # still wants to watch calls WatchJob again.
    watch_max_lifetime_s: float = Field(default=3600.0, gt=0)
    # Changes arrive by NOTIFY; a stream also looks every so often in case a notification was lost, so a lost one
    # only delays an update by up to this much.
    watch_fallback_poll_s: float = Field(default=5.0, gt=0)
    # The listener connection: a silent one is checked this often, and reconnects back off up to the maximum.
    watch_listener_check_s: float = Field(default=30.0, gt=0)
    watch_reconnect_max_s: float = Field(default=10.0, gt=0)
