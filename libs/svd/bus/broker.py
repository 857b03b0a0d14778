"""The FastStream NATS broker every service uses, with trace propagation through message headers."""

from __future__ import annotations

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from opentelemetry import trace


def make_broker(nats_url: str, client_name: str, graceful_timeout_s: float = 30.0) -> NatsBroker:
    """A broker whose publishes inject, and whose consumers extract, W3C `traceparent` headers.

    On stop, consumers stop fetching and running handlers get `graceful_timeout_s` to finish (then they are
    cancelled and hand their messages back: see `svd.bus.consumer`)."""
    return NatsBroker(
        servers=[url.strip() for url in nats_url.split(",")],
        name=client_name,
        graceful_timeout=graceful_timeout_s,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        max_reconnect_attempts=-1,
        logger=None,
    )
