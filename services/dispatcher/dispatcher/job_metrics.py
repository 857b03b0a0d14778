"""The dispatcher's job metrics: jobs started, and jobs finished with their status, failed phase and duration."""

from __future__ import annotations

from typing import Any

from svd.telemetry import metrics


def job_started(job: Any) -> None:
    """A job row was created (`wake_reason`: the approval or the rejection that started it)."""
    metrics.jobs_started.add(1, {"trigger": job.wake_reason})


def job_finished(job: Any) -> None:
    """`job` has just reached its terminal status (called once, by the transaction that ended it)."""
    metrics.jobs_finished.add(1, {"status": job.status, "failed_phase": job.failed_phase or ""})
    seconds = (job.updated_at - job.created_at).total_seconds()
    metrics.job_duration.record(max(0.0, seconds), {"status": job.status})
