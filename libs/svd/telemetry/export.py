"""OTLP exporters chosen by the standard environment: which protocol, and whether a signal is exported at all.

`OTEL_EXPORTER_OTLP_PROTOCOL` (or the per-signal `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `..._METRICS_PROTOCOL`) is
`grpc` or `http/protobuf`; unset means `http/protobuf`, the specification's default. Each exporter reads its own
endpoint, headers, certificates, compression and timeout variables; a bare `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL
to which the HTTP exporters add `/v1/traces` and `/v1/metrics`. `http/json` (which no Python exporter speaks) is refused
at start, by name, rather than exporting nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

Signal = Literal["traces", "metrics"]
Protocol = Literal["grpc", "http/protobuf"]

DEFAULT_PROTOCOL: Protocol = "http/protobuf"
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")


class TelemetryConfigError(ValueError):
    """An OTLP setting this process cannot honour (named, with the values it accepts)."""


def _signal_var(signal: Signal, suffix: str) -> str:
    return f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}"


def protocol(signal: Signal, env: Mapping[str, str]) -> Protocol:
    """The OTLP protocol for `signal`: the per-signal variable, else the general one, else `http/protobuf`."""
    for name in (_signal_var(signal, "PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(name, "").strip().lower()
        if not value:
            continue
        if value == "grpc":
            return "grpc"
        if value == "http/protobuf":
            return "http/protobuf"
        raise TelemetryConfigError(f"{name} must be one of {', '.join(PROTOCOLS)}, not {value!r}")
    return DEFAULT_PROTOCOL


def exports(signal: Signal, env: Mapping[str, str]) -> bool:
    """Whether `signal` is exported: an endpoint is set for it (general or per-signal) and its exporter is not
    switched off (`OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` = `none`)."""
    if env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(_signal_var(signal, "ENDPOINT")))


def span_exporter(env: Mapping[str, str]) -> SpanExporter:
    """The OTLP span exporter of the configured protocol (it reads its other settings from the environment)."""
    if protocol("traces", env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter()


def metric_exporter(env: Mapping[str, str]) -> MetricExporter:
    """The OTLP metric exporter of the configured protocol (cumulative temporality, the SDK default)."""
    if protocol("metrics", env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter()
