"""The FastStream NATS broker every service uses, with trace propagation through message headers."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsCredentials, NatsSecurity, NatsUserPassword
from faststream.security import BaseSecurity
from opentelemetry import trace

from svd.bus.connection import NatsSettings, connect_options


def _security(options: dict[str, Any]) -> BaseSecurity | None:
    tls = options.get("tls")
    if options.get("user_credentials"):
        return NatsCredentials.from_file(options["user_credentials"], ssl_context=tls)
    if options.get("user"):
        return NatsUserPassword(options["user"], options["password"], ssl_context=tls)
    return NatsSecurity(ssl_context=tls) if tls is not None else None


def make_broker(settings: NatsSettings, client_name: str, graceful_timeout_s: float = 30.0) -> NatsBroker:
    """A broker on every server of `settings.nats_url` (it fails over between them) with the process's own
    credentials and inbox, whose publishes inject, and whose consumers extract, W3C `traceparent` headers.

    On stop, consumers stop fetching and running handlers get `graceful_timeout_s` to finish (then they are
    cancelled and hand their messages back: see `svd.bus.consumer`)."""
    options = connect_options(settings, client_name)
    return NatsBroker(
        servers=options["servers"],
        name=client_name,
        inbox_prefix=options["inbox_prefix"],
        security=_security(options),
        graceful_timeout=graceful_timeout_s,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        max_reconnect_attempts=-1,
        logger=None,
    )
