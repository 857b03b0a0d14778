"""Settings shared by every service, read from the environment with pydantic-settings.

Required settings have no defaults, so a service missing one fails at start with a clear message. The variable
names are the deployment interface (e.g. `NATS_URL`, `DATABASE_URL`, `DO_SPACES_*`); standard `OTEL_*` variables are
left to the OpenTelemetry SDK.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BaseServiceSettings(BaseSettings):
    """Settings every service has: the bus, its gRPC listen address and the API keys it accepts."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    nats_url: str = Field(description="NATS server URL(s), comma separated")
    grpc_listen: str = Field(default="[::]:50051", description="host:port the gRPC server binds")
    # JSON object: sha256 hex digest of an API key → tenant id, or "*" for an admin key.
    svd_api_keys: dict[str, str] = Field(default_factory=dict)
    shutdown_grace_s: float = 5.0


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection (`postgresql+psycopg://…`)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    database_url: str
    database_pool_size: int = 10


class SpacesSettings(BaseSettings):
    """S3-compatible object storage (DigitalOcean Spaces in production)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    do_spaces_key: str
    do_spaces_secret: str
    do_spaces_bucket: str
    do_spaces_endpoint: str
    do_spaces_region: str = "us-east-1"
    do_spaces_cdn_url: str = ""
