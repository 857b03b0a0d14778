"""Settings shared by every service, read from the environment with pydantic-settings.

Required settings have no defaults, so a service missing one fails at start with a clear message. The variable
names are the deployment interface (e.g. `NATS_URL`, `DATABASE_URL`, `DO_SPACES_*`); standard `OTEL_*` variables are
left to the OpenTelemetry SDK.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from svd.bus.connection import NatsSettings
from svd.bus.consumer import RetryPolicy
from svd.db.url import sqlalchemy_url

# A missing or malformed setting is reported by name, never with the values read (they include secrets).
_CONFIG = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)


class BaseServiceSettings(NatsSettings):
    """Settings every service has: the bus (`svd.bus.connection`), its gRPC listen address (TLS when given a
    certificate and key), its Connect listen address, the API keys it accepts, and the CA its gRPC clients trust
    (plaintext without one)."""

    model_config = _CONFIG

    grpc_listen: str = Field(default="[::]:50051", description="host:port the gRPC server binds")
    grpc_tls_cert: str = Field(default="", description="PEM certificate chain the gRPC server presents")
    grpc_tls_key: str = Field(default="", description="PEM private key of that certificate")
    grpc_tls_ca: str = Field(default="", description="PEM CA bundle this service's gRPC clients trust")
    # The kubelet's native gRPC probes cannot speak TLS: with TLS on, they check this plaintext listener, which
    # serves grpc.health.v1 alone (the same statuses as the main server). Empty: no such listener.
    grpc_health_listen: str = Field(default="", description="host:port of a plaintext, health-only gRPC listener")
    # Connect (HTTP/1.1, JSON or protobuf) beside gRPC, for browsers and curl: the same services, keys and errors
    # (`svd.grpc.connect`), plaintext (TLS ends at the ingress). Empty: no HTTP listener.
    http_listen: str = Field(default="", description="host:port the Connect (HTTP) server binds")
    # Browser origins (scheme://host:port) allowed to call that listener's Connect services from their pages (CORS),
    # e.g. the TypeScript dashboard's, or the dispatcher console's for media-store. JSON list; empty: same origin only.
    http_cors_origins: list[str] = Field(default_factory=list)
    # JSON object: sha256 hex digest of an API key → tenant id, or "*" for an admin key.
    svd_api_keys: dict[str, str] = Field(default_factory=dict)
    # On SIGTERM: stop fetching, then let running handlers finish for this long; what still runs is cancelled and its
    # message handed back. Services whose handlers run longer raise it (and their pods' termination grace with it).
    shutdown_grace_s: float = 30.0
    # Retries of bus messages (see svd.bus.consumer): capped exponential backoff, for as long as the job's deadline
    # allows (messages without a job: `bus_retry_budget_s` from their first delivery); errors that are not transient
    # are dead-lettered after `bus_max_failures` deliveries.
    bus_backoff_base_s: float = Field(default=1.0, gt=0)
    bus_backoff_cap_s: float = Field(default=60.0, gt=0, le=60.0)
    bus_retry_budget_s: float = Field(default=3600.0, gt=0)
    bus_max_failures: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if bool(self.grpc_tls_cert) != bool(self.grpc_tls_key):
            raise ValueError("GRPC_TLS_CERT and GRPC_TLS_KEY go together: set both (TLS) or neither (plaintext)")
        return self

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.bus_backoff_base_s, self.bus_backoff_cap_s, self.bus_retry_budget_s, self.bus_max_failures
        )


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection: a `postgresql://` URI (as CloudNativePG's app secret holds) or `postgresql+psycopg://`."""

    model_config = _CONFIG

    database_url: str
    database_pool_size: int = 10

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, url: str) -> str:
        return sqlalchemy_url(url)


class SpacesSettings(BaseSettings):
    """S3-compatible object storage (DigitalOcean Spaces in production)."""

    model_config = _CONFIG

    do_spaces_key: str
    do_spaces_secret: str
    do_spaces_bucket: str
    do_spaces_endpoint: str
    do_spaces_region: str = "us-east-1"
    do_spaces_cdn_url: str = ""
