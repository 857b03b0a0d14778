"""Trace contexts: a job's own trace (`in_trace`) and housekeeping left untraced (`untraced`) without the one
leaking into the other."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from svd.telemetry import in_trace, untraced

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def test_an_untraced_loop_leaves_the_job_it_starts_traced() -> None:
    with untraced():
        assert not is_instrumentation_enabled()  # the loop's own queries make no spans
        token = otel_context.attach(in_trace(TRACE_ID))
        try:
            assert is_instrumentation_enabled()  # the job's start is instrumented as usual
            assert trace.get_current_span().get_span_context().trace_id == int(TRACE_ID, 16)
        finally:
            otel_context.detach(token)
    assert is_instrumentation_enabled()


def test_no_trace_id_gives_a_fresh_context_not_the_callers() -> None:
    with untraced():
        for missing in ("", "0" * 32, "not hex"):
            fresh = in_trace(missing)
            assert not trace.get_current_span(fresh).get_span_context().is_valid
            token = otel_context.attach(fresh)
            try:
                assert is_instrumentation_enabled()
            finally:
                otel_context.detach(token)
