"""OpenTelemetry set up once per process: resource, trace and metric providers, their exporters, and the library
instrumentations.

Traces and metrics go out over OTLP when an endpoint is set (`svd.telemetry.export` picks the protocol); metrics are
also served for Prometheus when `METRICS_PORT` is set. gRPC (server and client), httpx and SQLAlchemy are
instrumented here; NATS trace context travels in message headers through FastStream's telemetry middleware (see
`svd.bus.broker`). Code adds only domain spans, `social_video.*` attributes and the instruments of
`svd.telemetry.metrics`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from svd.telemetry import export
from svd.telemetry.scrape import ScrapeEndpoint, serve_metrics
from svd.telemetry.settings import TelemetrySettings

_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_scrape: ScrapeEndpoint | None = None


def tracer_provider(resource: Resource, env: Mapping[str, str]) -> TracerProvider:
    """A tracer provider exporting over OTLP in batches when `env` sets an endpoint for traces."""
    provider = TracerProvider(resource=resource)
    if export.exports("traces", env):
        provider.add_span_processor(BatchSpanProcessor(export.span_exporter(env)))
    return provider


def meter_provider(resource: Resource, env: Mapping[str, str], readers: Sequence[MetricReader] = ()) -> MeterProvider:
    """A meter provider with `readers`, plus a periodic OTLP export (`OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default)
    when `env` sets an endpoint for metrics."""
    all_readers = list(readers)
    if export.exports("metrics", env):
        all_readers.append(PeriodicExportingMetricReader(export.metric_exporter(env)))
    return MeterProvider(resource=resource, metric_readers=all_readers)


def setup_telemetry(service_name: str, settings: TelemetrySettings | None = None) -> TracerProvider:
    """The global tracer and meter providers for `service_name`, the scrape endpoint and the library
    instrumentations (idempotent: a second call returns the first provider). Logging is the caller's (see
    `svd.telemetry.logs.configure_logging`)."""
    global _tracer_provider, _meter_provider, _scrape
    if _tracer_provider is not None:
        return _tracer_provider
    settings = settings or TelemetrySettings()
    env = dict(os.environ)
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = tracer_provider(resource, env)
    readers: list[MetricReader] = []
    if settings.metrics_port is not None:
        _scrape = serve_metrics(settings.metrics_host, settings.metrics_port)
        readers.append(_scrape.reader)
    _meter_provider = meter_provider(resource, env, readers)
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(_meter_provider)
    _instrument_libraries()
    _tracer_provider = provider
    return provider


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    HTTPXClientInstrumentor().instrument()


def instrument_engine(engine: Any) -> None:
    """Trace the statements of one SQLAlchemy engine (async engines are traced through their sync engine)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(engine=getattr(engine, "sync_engine", engine))


def shutdown_telemetry() -> None:
    """Flush pending spans and metrics, stop the scrape endpoint; called when the service stops."""
    if _tracer_provider is not None:
        _tracer_provider.force_flush(timeout_millis=5000)
        _tracer_provider.shutdown()
    if _meter_provider is not None:
        _meter_provider.shutdown(timeout_millis=3000)  # exports what was recorded since the last interval
    if _scrape is not None:
        _scrape.close()


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or "" outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def in_trace(trace_id: str) -> otel_context.Context:
    """A fresh context whose parent is in the trace `trace_id` (32 hex digits, as stored on a job row), so spans
    started later — an admitted job's start, a webhook attempt — join the trace its approval began; a context of a
    new trace for no trace. Nothing of the caller's context comes along (an `untraced` loop stays untraced, not the
    job it starts)."""
    try:
        trace_number = int(trace_id, 16)
    except ValueError:
        trace_number = 0
    if not trace_number:
        return otel_context.Context()
    parent = SpanContext(
        trace_id=trace_number,
        span_id=random.getrandbits(64) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())


@contextmanager
def untraced() -> Iterator[None]:
    """Instrumentation off within: for housekeeping loops that poll every second or so (webhook claims, admission
    passes, hold sweeps), whose queries would otherwise send a trace each tick whether or not they find work. What
    they start for a job runs `in_trace` of the job, traced as usual."""
    with suppress_instrumentation():
        yield


def tracer(name: str) -> trace.Tracer:
    """A tracer for domain spans."""
    return trace.get_tracer(name)
