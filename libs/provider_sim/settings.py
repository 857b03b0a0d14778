"""Simulator configuration, read from ``PROVIDER_SIM_*`` environment variables.

CLI flags (see ``__main__``) override the environment for host, ports, public
base URLs, work dir and TLS dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVIDER_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)
    public_base_url: str | None = Field(default=None, description="Base of output URLs; default http://{host}:{port}.")
    runway_keys: str | None = Field(
        default=None,
        description="Comma-separated accepted Runway API keys; unset means any non-empty key.",
    )
    fal_keys: str | None = Field(
        default=None,
        description="Comma-separated accepted fal API keys; unset means any non-empty key.",
    )
    task_scope: Literal["shared", "key"] = Field(
        default="shared",
        description="'shared': every key sees every task (one organisation); 'key': each key sees only its own.",
    )
    tls_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of the TLS listener (fal's API); unset = no TLS."
    )
    tls_dir: Path | None = Field(default=None, description="CA, server cert and trust bundle; default work_dir/tls.")
    public_tls_base_url: str | None = Field(
        default=None, description="Base of https URLs (fal queue URLs, fal outputs); default https://{host}:{tls_port}."
    )
    x264_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="veryfast",
        description="libx264 preset of renders: the encoder's speed against the file's size (frame size, rate, "
        "length and sound are the model's whatever it is).",
    )
    render_cache: bool = Field(default=True, description="Reuse the MP4 of an identical earlier render.")
    render_cache_scope: Literal["inputs", "format"] = Field(
        default="inputs",
        description="What makes renders identical: `inputs` (image, prompt, duration, frame size, rate, sound) or "
        "`format` (duration, frame size, rate and sound only: every render of one format reuses the first, whatever "
        "its picture; for load tests where the pipeline, not the picture, is measured).",
    )
    journal_capacity: int = Field(default=200_000, ge=0, description="Request journal records kept (oldest dropped).")
    fal_queue_seconds: float = Field(
        default=0.0, ge=0.0, description="Minimum time a fal request spends IN_QUEUE before it starts."
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
    kling_audio: bool = Field(
        default=False,
        description="Every Kling output carries a sound track (as v2.6 does unless generate_audio is false).",
    )
    strict_ratios: bool = Field(
        default=False,
        description="Reject ratios the real API does not offer for the model (where known).",
    )

    def accepted_keys(self, provider: str = "runway") -> frozenset[str] | None:
        raw = self.fal_keys if provider == "fal" else self.runway_keys
        if raw is None:
            return None
        keys = frozenset(k.strip() for k in raw.split(",") if k.strip())
        return keys or None

    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def tls_base_url(self) -> str | None:
        if self.public_tls_base_url:
            return self.public_tls_base_url.rstrip("/")
        if self.tls_port is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.tls_port}"
