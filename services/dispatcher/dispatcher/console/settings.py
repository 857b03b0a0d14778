"""Console settings (environment)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # Where a browser reaches media-store's Connect listener (scheme://host:port), for the console's media: that
    # listener must allow the console's origin (its HTTP_CORS_ORIGINS). Empty: the console shows no media.
    console_media_url: str = Field(default="")
