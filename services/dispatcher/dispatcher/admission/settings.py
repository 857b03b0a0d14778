"""Settings of fair admission (environment): the caps on jobs in the paid pipeline, and how admission is driven."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdmissionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, hide_input_in_errors=True)

    # Jobs in the paid pipeline (credits reserved, still frame, provider, storing) at once, over all tenants.
    jobs_max_in_flight: int = Field(default=20, ge=1)
    # ... and of one tenant (the spec's worker concurrency): a tenant's burst waits its turn instead of flooding.
    tenant_max_in_flight: int = Field(default=2, ge=1)
    # A job ending (or arriving) wakes admission at once through NOTIFY; this tick is the fallback for a lost
    # notification, and resumes admitted jobs whose start did not complete.
    admission_tick_s: float = Field(default=5.0, gt=0)
    # The queue's own ceiling: a job not admitted within it fails ("timeout: not admitted within …"). The job's
    # deadline (JOB_DEADLINE_S) only starts when it is admitted, so waiting never eats the pipeline's time.
    admission_queue_max_wait_s: int = Field(default=6 * 3600, ge=10)
    # An admitted job whose design request was not published this long after admission (its replica died, billing
    # was down) is started again; starting is idempotent (one hold per job, deduplicated publish).
    admission_resume_after_s: float = Field(default=30.0, gt=0)
    # Admitted jobs started at once by one replica (each a quote, a reserve and a publish).
    admission_start_concurrency: int = Field(default=16, ge=1)

    @model_validator(mode="after")
    def _tenant_within_total(self) -> AdmissionSettings:
        if self.tenant_max_in_flight > self.jobs_max_in_flight:
            raise ValueError("TENANT_MAX_IN_FLIGHT cannot exceed JOBS_MAX_IN_FLIGHT")
        return self
