"""A minimal OTLP receiver for tests, over gRPC and over HTTP (protobuf): the services export their spans and metrics
to it like to any collector. One sink, two listeners (`grpc_port`, `http_port`), whatever protocol a process uses."""

from __future__ import annotations

import gzip
import threading
from collections import defaultdict
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def _service_of(resource) -> str:
    return next((a.value.string_value for a in resource.attributes if a.key == "service.name"), "")


class SpanSink(trace_service_pb2_grpc.TraceServiceServicer):
    """What arrived: spans and metric names, by service (the trace service's gRPC servicer itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[str, str, str]] = []  # (service.name, trace id hex, span name)
        self.metrics: list[tuple[str, str, str]] = []  # (service.name, metric name, protocol)
        self.protocols: set[str] = set()  # "grpc" / "http/protobuf": how exports arrived

    def add_spans(self, request: trace_service_pb2.ExportTraceServiceRequest, protocol: str) -> None:
        with self._lock:
            self.protocols.add(protocol)
            for resource_spans in request.resource_spans:
                service = _service_of(resource_spans.resource)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((service, span.trace_id.hex(), span.name))

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest, protocol: str) -> None:
        with self._lock:
            self.protocols.add(protocol)
            for resource_metrics in request.resource_metrics:
                service = _service_of(resource_metrics.resource)
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        self.metrics.append((service, metric.name, protocol))

    def Export(self, request, context):
        self.add_spans(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()

    def services_by_trace(self) -> dict[str, set[str]]:
        with self._lock:
            found: dict[str, set[str]] = defaultdict(set)
            for service, trace_id, _ in self.spans:
                found[trace_id].add(service)
            return dict(found)

    def span_names(self, trace_id: str, service: str) -> set[str]:
        """The names of the spans `service` exported in trace `trace_id`."""
        with self._lock:
            return {name for svc, trace, name in self.spans if trace == trace_id and svc == service}

    def metric_names(self, service: str, protocol: str | None = None) -> set[str]:
        """The names of the metrics `service` exported (over `protocol`, if given)."""
        with self._lock:
            return {name for svc, name, proto in self.metrics if svc == service and protocol in (None, proto)}


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: SpanSink) -> None:
        self._sink = sink

    def Export(self, request, context):
        self._sink.add_metrics(request, "grpc")
        return metrics_service_pb2.ExportMetricsServiceResponse()


def _http_handler(sink: SpanSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, like a real collector: under HTTP/1.0 every export of every process opened a new connection
        # and a new server thread.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                sink.add_spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http/protobuf")
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            elif self.path == "/v1/metrics":
                sink.add_metrics(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body), "http/protobuf")
                answer = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


@dataclass
class RunningSink:
    sink: SpanSink
    grpc_port: int
    http_port: int
    _grpc: grpc.Server
    _http: ThreadingHTTPServer

    def endpoint(self, protocol: str) -> str:
        """`OTEL_EXPORTER_OTLP_ENDPOINT` for exporters speaking `protocol`."""
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def stop(self) -> None:
        self._grpc.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()


def start_sink() -> RunningSink:
    sink = SpanSink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(sink), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(sink))
    http.daemon_threads = True
    http.block_on_close = False  # a kept-alive exporter connection must not hold up the sink's stop
    threading.Thread(target=http.serve_forever, name="otlp-http-sink", daemon=True).start()
    return RunningSink(sink, grpc_port, http.server_address[1], server, http)
