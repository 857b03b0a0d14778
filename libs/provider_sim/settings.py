"""Simulator configuration, read from ``PROVIDER_SIM_*`` environment variables.

CLI flags (see ``__main__``) override the environment for host, port, public
base URL and work dir.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVIDER_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)
    public_base_url: str | None = Field(default=None, description="Base of output URLs; default http://{host}:{port}.")
    runway_keys: str | None = Field(
        default=None,
        description="Comma-separated accepted API keys; unset means any non-empty key.",
    )
    output_ttl_s: int = Field(default=86400, ge=1)
    min_task_seconds: float = Field(default=0.0, ge=0.0)
    work_dir: Path | None = Field(default=None, description="Default: a fresh temp dir.")
    max_concurrent_renders: int = Field(default=2, ge=1, le=16)
    signing_secret: str | None = Field(
        default=None, description="HMAC key for output URLs; default random per process."
    )
    fetch_timeout_s: float = Field(default=30.0, gt=0)
    max_image_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    max_data_uri_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    strict_ratios: bool = Field(
        default=False,
        description="Reject ratios the real API does not offer for the model (where known).",
    )

    def accepted_keys(self) -> frozenset[str] | None:
        if self.runway_keys is None:
            return None
        keys = frozenset(k.strip() for k in self.runway_keys.split(",") if k.strip())
        return keys or None

    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"
