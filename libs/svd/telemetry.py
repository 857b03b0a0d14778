"""OpenTelemetry set up once per process: resource, OTLP export, and the library instrumentations.

gRPC (server and client), httpx and SQLAlchemy are instrumented here; NATS trace context travels in message headers
through FastStream's telemetry middleware (see `svd.bus.broker`). Code adds only domain spans and `social_video.*`
attributes. Export is on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific variable) is set;
the SDK reads every other `OTEL_*` variable itself.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def setup_telemetry(service_name: str) -> TracerProvider:
    """Install the global tracer provider for `service_name` (idempotent) and instrument the libraries."""
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _provider = provider
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
    """Flush pending spans; called when the service stops."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)
        _provider.shutdown()


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or "" outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def tracer(name: str) -> trace.Tracer:
    """A tracer for domain spans."""
    return trace.get_tracer(name)
