"""Log records that carry the current trace: `trace_id` and `span_id` on every record, as text or JSON lines.

`LOG_FORMAT=json` writes one JSON object per line (time, level, service, logger, message, trace_id, span_id, the
exception if any, and whatever `extra=` fields a call passed), which log shippers index without parsing rules; the
default `text` keeps the human format and appends the ids when a span is current. Both are the standard library's
`logging` with one filter and one formatter (a JSON formatter is thirty lines; a dependency would buy nothing here).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has; anything else on a record came from `extra=` and is written as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "trace_id", "span_id", "trace"}


class TraceContextFilter(logging.Filter):
    """Sets `trace_id` / `span_id` (hex, "" outside a span) and `trace` (" trace_id=… span_id=…" or "") on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else ""
        span_id = format(context.span_id, "016x") if context.is_valid else ""
        record.__dict__.update(
            trace_id=trace_id, span_id=span_id, trace=f" trace_id={trace_id} span_id={span_id}" if trace_id else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


def text_formatter(service: str) -> logging.Formatter:
    return logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s%(trace)s: %(message)s")


def log_handler(service: str, log_format: LogFormat, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) that stamps the trace context and formats as `log_format`."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter(service) if log_format == "json" else text_formatter(service))
    return handler


def configure_logging(service: str, level: str = "INFO", log_format: LogFormat = "text") -> None:
    """Route the root logger through one trace-stamping handler (replacing any handler set before)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(service, log_format))
    root.setLevel(level.upper())
