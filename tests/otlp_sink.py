"""A minimal OTLP/gRPC trace receiver for tests: the services export to it like to any collector."""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class SpanSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[str, str, str]] = []  # (service.name, trace id hex, span name)

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((service, span.trace_id.hex(), span.name))
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


def start_sink() -> tuple[grpc.Server, SpanSink, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    sink = SpanSink()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, sink, port
