"""Logging and metrics settings every service shares (the standard `OTEL_*` variables are left to the SDK)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    log_level: str = "INFO"
    # `json`: one JSON object per line with trace_id/span_id, for log shippers; `text`: the human format.
    log_format: Literal["text", "json"] = "text"
    # The Prometheus scrape endpoint (`GET /metrics`); unset: none (metrics still go out over OTLP when an endpoint
    # is set). Kubernetes sets 9464, the OpenTelemetry convention; the dev stack picks a free port per service.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"
