"""OTLP protocol selection: `OTEL_EXPORTER_OTLP_PROTOCOL` picks gRPC or HTTP/protobuf (the default), and spans and
metrics really arrive at a receiver speaking that protocol."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource

from svd.telemetry import export
from svd.telemetry.setup import meter_provider, tracer_provider
from tests.otlp_sink import start_sink


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": " GRPC "}, "grpc"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            "http/protobuf",
        ),
    ],
)
def test_protocol_for_traces(env: dict[str, str], expected: str) -> None:
    assert export.protocol("traces", env) == expected


def test_a_protocol_no_exporter_speaks_is_refused_by_name() -> None:
    with pytest.raises(export.TelemetryConfigError, match="OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"):
        export.protocol("metrics", {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"})


def test_a_signal_is_exported_only_with_an_endpoint_and_not_switched_off() -> None:
    assert not export.exports("metrics", {})
    assert export.exports("metrics", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert export.exports("traces", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not export.exports(
        "traces", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_and_metrics_arrive_over_the_chosen_protocol(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = start_sink()
    try:
        env = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint(protocol),
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
        for name, value in env.items():  # the exporters read their endpoint from the environment themselves
            monkeypatch.setenv(name, value)
        resource = Resource.create({"service.name": "export-test"})
        traces, meters = tracer_provider(resource, env), meter_provider(resource, env)
        with traces.get_tracer("test").start_as_current_span("exported") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        meters.get_meter("test").create_counter("svd.test.exported").add(1)
        traces.shutdown()  # flushes
        meters.shutdown()
        assert receiver.sink.services_by_trace().get(trace_id) == {"export-test"}
        assert receiver.sink.metric_names("export-test", protocol) == {"svd.test.exported"}
        assert receiver.sink.protocols == {protocol}
    finally:
        receiver.stop()
