"""The FastStream NATS broker every service uses, with trace propagation through message headers."""

from __future__ import annotations

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from opentelemetry import trace


def make_broker(nats_url: str, client_name: str) -> NatsBroker:
    """A broker whose publishes inject, and whose consumers extract, W3C `traceparent` headers."""
    return NatsBroker(
        servers=[url.strip() for url in nats_url.split(",")],
        name=client_name,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        max_reconnect_attempts=-1,
        logger=None,
    )
