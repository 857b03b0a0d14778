"""Log records carry the current trace: text lines append the ids, JSON lines have them as fields."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from svd.telemetry.logs import log_handler

_tracer = TracerProvider().get_tracer("test")  # a real SDK tracer, without touching the global provider


def _logger(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger(f"test-telemetry-logs-{fmt}")
    logger.handlers[:] = [log_handler("dispatcher", fmt, out)]  # type: ignore[arg-type]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_json_lines_carry_the_trace_and_span_ids_and_extra_fields() -> None:
    logger, out = _logger("json")
    with _tracer.start_as_current_span("work") as span:
        logger.info("stored %s", "video", extra={"job_id": "j-1"})
        context = span.get_span_context()
    logger.warning("outside")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["trace_id"] == format(context.trace_id, "032x") and len(first["trace_id"]) == 32
    assert first["span_id"] == format(context.span_id, "016x")
    assert first["message"] == "stored video" and first["level"] == "INFO" and first["service"] == "dispatcher"
    assert first["job_id"] == "j-1" and first["logger"] == "test-telemetry-logs-json"
    assert first["time"].endswith("+00:00")
    assert second["trace_id"] == "" and second["span_id"] == ""


def test_json_lines_keep_the_exception() -> None:
    logger, out = _logger("json")
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("failed")
    entry = json.loads(out.getvalue())
    assert "ValueError: bad input" in entry["exception"]


def test_text_lines_append_the_ids_inside_a_span_only() -> None:
    logger, out = _logger("text")
    with _tracer.start_as_current_span("work") as span:
        logger.info("inside")
        context = span.get_span_context()
    logger.info("outside")
    inside, outside = out.getvalue().splitlines()
    ids = f"trace_id={format(context.trace_id, '032x')} span_id={format(context.span_id, '016x')}"
    assert inside.endswith(f"INFO dispatcher test-telemetry-logs-text {ids}: inside")
    assert outside.endswith("INFO dispatcher test-telemetry-logs-text: outside")
