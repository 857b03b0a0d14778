"""The Prometheus scrape endpoint: the process's OpenTelemetry metrics (and prometheus_client's process and GC
collectors) served as text on `METRICS_HOST:METRICS_PORT/metrics` by prometheus_client's own threaded HTTP server,
off the event loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


@dataclass
class ScrapeEndpoint:
    reader: PrometheusMetricReader
    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> ScrapeEndpoint:
    """A metric reader for the meter provider, and the HTTP server that renders it on each scrape."""
    reader = PrometheusMetricReader(registry=registry)
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return ScrapeEndpoint(reader, server, thread)
