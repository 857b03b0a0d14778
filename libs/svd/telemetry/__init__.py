"""Telemetry of every service: traces, metrics (OTLP and a Prometheus scrape endpoint) and logs with trace ids.

One module per role: `setup` (providers, once per process), `export` (OTLP protocol and exporters), `metrics` (the
instruments), `scrape` (the Prometheus endpoint), `logs` (trace-stamped text or JSON lines), `settings`.
"""

from svd.telemetry.setup import (
    current_trace_id,
    in_trace,
    instrument_engine,
    setup_telemetry,
    shutdown_telemetry,
    tracer,
    untraced,
)

__all__ = [
    "current_trace_id",
    "in_trace",
    "instrument_engine",
    "setup_telemetry",
    "shutdown_telemetry",
    "tracer",
    "untraced",
]
