"""The metric instruments of the services, declared once: names, units, attributes (the dashboard's vocabulary).

Instruments come from the global meter provider's proxy, so modules can import them before `setup_telemetry` runs;
until a provider is installed they record nothing. Attribute values are bounded vocabularies (statuses, steps,
providers, error kinds, durable consumer names), never ids: a tenant or job id would make a series per job.

Prometheus names follow the OpenTelemetry translation: dots become underscores, the unit is appended (`s` →
`_seconds`, `By` → `_bytes`, `{…}` annotations dropped) and counters end in `_total`; `prometheus_name` says which.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram, Meter

# Seconds, from a few milliseconds (a reserve) to ten minutes (a provider render, a poll window).
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: Literal["counter", "histogram"]
    unit: str
    description: str
    attributes: tuple[str, ...] = ()

    @property
    def prometheus_name(self) -> str:
        """The metric family name on the scrape endpoint (histograms add `_bucket`, `_sum` and `_count`)."""
        base = self.name.replace(".", "_")
        suffix = {"s": "seconds", "By": "bytes"}.get(self.unit, "")
        if suffix and not base.endswith(suffix):
            base = f"{base}_{suffix}"
        return f"{base}_total" if self.kind == "counter" else base

    def counter(self, meter: Meter) -> Counter:
        assert self.kind == "counter"
        return meter.create_counter(self.name, unit=self.unit, description=self.description)

    def histogram(self, meter: Meter) -> Histogram:
        assert self.kind == "histogram"
        return meter.create_histogram(
            self.name,
            unit=self.unit,
            description=self.description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S) if self.unit == "s" else None,
        )


JOBS_STARTED = Instrument(
    "svd.jobs.started", "counter", "{job}", "Video jobs started (a first approval or a re-run)", ("trigger",)
)
JOBS_FINISHED = Instrument(
    "svd.jobs.finished",
    "counter",
    "{job}",
    "Video jobs that ended, by status and, for a failure, the step it failed at",
    ("status", "failed_phase"),
)
JOB_DURATION = Instrument("svd.job.duration", "histogram", "s", "From a job's start to its end", ("status",))
STEP_DURATION = Instrument(
    "svd.job.step.duration",
    "histogram",
    "s",
    "Time a job spends in one step: reserving, still_frame, submitting, polling, storing (conform included; it has"
    " its own histogram too)",
    ("step",),
)
PROVIDER_CALL_DURATION = Instrument(
    "svd.provider.call.duration",
    "histogram",
    "s",
    "Latency of one call to an external provider (video or image), by outcome (`ok` or the error kind)",
    ("provider", "operation", "outcome"),
)
PROVIDER_CALL_ERRORS = Instrument(
    "svd.provider.call.errors",
    "counter",
    "{call}",
    "Failed provider calls, by provider, operation and error kind",
    ("provider", "operation", "kind"),
)
KEY_COOLDOWNS = Instrument(
    "svd.keypool.cooldowns",
    "counter",
    "{cooldown}",
    "Provider keys set to cool down (429 / Retry-After)",
    ("provider",),
)
KEY_INVALIDATIONS = Instrument(
    "svd.keypool.invalidations", "counter", "{key}", "Provider keys marked invalid (401 / 403)", ("provider",)
)
CREDITS = Instrument(
    "svd.credits",
    "counter",
    "{credit}",
    "Credits moved by the ledger (replays excluded): reserved, consumed, released",
    ("movement", "credit_type"),
)
BUS_REDELIVERIES = Instrument(
    "svd.bus.redeliveries",
    "counter",
    "{message}",
    "Deliveries of a message after its first: retries, expired ack waits, and the poll loop's scheduled checks",
    ("consumer",),
)
BUS_DEAD_LETTERS = Instrument(
    "svd.bus.dead_letters", "counter", "{message}", "Messages dead-lettered, by consumer", ("consumer",)
)
BUS_HANDLE_DURATION = Instrument(
    "svd.bus.handle.duration",
    "histogram",
    "s",
    "Time one delivery took to handle, by consumer and outcome (ack, retry, reject, error)",
    ("consumer", "outcome"),
)
TRANSFER_BYTES = Instrument(
    "svd.transfer.bytes",
    "counter",
    "By",
    "Bytes moved by media-store: downloaded from a provider, uploaded to the object store",
    ("direction",),
)
CONFORM_DURATION = Instrument(
    "svd.conform.duration",
    "histogram",
    "s",
    "Time to make the platform deliverable from a provider clip, by what it took: pass (copied as it is), remux,"
    " transcode, or failed",
    ("action",),
)
WEBHOOK_ATTEMPTS = Instrument(
    "svd.webhook.attempts",
    "counter",
    "{attempt}",
    "Webhook delivery attempts by outcome: succeeded, retry (to be tried again) or failed (given up)",
    ("outcome",),
)
WEBHOOK_ATTEMPT_DURATION = Instrument(
    "svd.webhook.attempt.duration",
    "histogram",
    "s",
    "Latency of one webhook attempt (request to answer, or to the timeout), by outcome",
    ("outcome",),
)
WEBHOOK_LAG = Instrument(
    "svd.webhook.delivery.lag",
    "histogram",
    "s",
    "From an event's commit to its successful delivery (retries included), by event type",
    ("event_type",),
)
PROVIDER_COST = Instrument(
    "svd.provider.cost",
    "counter",
    "{USD}",
    "What video providers charged the platform (US dollars, from the price table) for the videos stored, by provider"
    " and model; beside `svd.credits` consumed, the margin",
    ("provider", "model"),
)

ADMISSION_WAIT = Instrument(
    "svd.admission.wait",
    "histogram",
    "s",
    "Time a video job waited in the admission queue for a free slot (its count: jobs admitted)",
)
PROVIDER_WAITING = Instrument(
    "svd.provider.waiting",
    "counter",
    "{check}",
    "Status checks that found the task waiting in the provider's own queue (Runway THROTTLED or PENDING, fal"
    " IN_QUEUE): back-pressure from the provider",
    ("provider", "status"),
)

INSTRUMENTS: tuple[Instrument, ...] = (
    JOBS_STARTED,
    JOBS_FINISHED,
    JOB_DURATION,
    STEP_DURATION,
    PROVIDER_CALL_DURATION,
    PROVIDER_CALL_ERRORS,
    KEY_COOLDOWNS,
    KEY_INVALIDATIONS,
    CREDITS,
    BUS_REDELIVERIES,
    BUS_DEAD_LETTERS,
    BUS_HANDLE_DURATION,
    TRANSFER_BYTES,
    CONFORM_DURATION,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_ATTEMPT_DURATION,
    WEBHOOK_LAG,
    PROVIDER_COST,
    ADMISSION_WAIT,
    PROVIDER_WAITING,
)

# The pipeline step a durable consumer's handler performs (its handling time is that step's time).
STEP_OF_CONSUMER: Mapping[str, str] = {
    "still-frame-design-requested": "still_frame",
    "video-gateway-still-ready": "submitting",
    "media-store-ready": "storing",
}

_meter = metrics.get_meter("svd")
jobs_started = JOBS_STARTED.counter(_meter)
jobs_finished = JOBS_FINISHED.counter(_meter)
job_duration = JOB_DURATION.histogram(_meter)
step_duration = STEP_DURATION.histogram(_meter)
provider_call_duration = PROVIDER_CALL_DURATION.histogram(_meter)
provider_call_errors = PROVIDER_CALL_ERRORS.counter(_meter)
key_cooldowns = KEY_COOLDOWNS.counter(_meter)
key_invalidations = KEY_INVALIDATIONS.counter(_meter)
credits = CREDITS.counter(_meter)
bus_redeliveries = BUS_REDELIVERIES.counter(_meter)
bus_dead_letters = BUS_DEAD_LETTERS.counter(_meter)
bus_handle_duration = BUS_HANDLE_DURATION.histogram(_meter)
transfer_bytes = TRANSFER_BYTES.counter(_meter)
conform_duration = CONFORM_DURATION.histogram(_meter)
webhook_attempts = WEBHOOK_ATTEMPTS.counter(_meter)
webhook_attempt_duration = WEBHOOK_ATTEMPT_DURATION.histogram(_meter)
webhook_lag = WEBHOOK_LAG.histogram(_meter)
provider_cost = PROVIDER_COST.counter(_meter)
admission_wait = ADMISSION_WAIT.histogram(_meter)
provider_waiting = PROVIDER_WAITING.counter(_meter)


def provider_call(provider: str, operation: str, seconds: float, error_kind: str = "") -> None:
    """Record one provider call: its latency by outcome, and the error by kind when it failed."""
    provider_call_duration.record(
        seconds, {"provider": provider, "operation": operation, "outcome": error_kind or "ok"}
    )
    if error_kind:
        provider_call_errors.add(1, {"provider": provider, "operation": operation, "kind": error_kind})


@contextmanager
def timed_step(step: str) -> Iterator[None]:
    """Record the time the block takes as `step`'s duration (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        step_duration.record(time.perf_counter() - started, {"step": step})
