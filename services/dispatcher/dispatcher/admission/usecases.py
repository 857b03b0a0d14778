"""Admission use cases: decide which queued jobs enter the paid pipeline, start them, resume any whose start did
not complete, check at approval that a tenant can afford one more job, and say where a waiting job stands.

A pass is one short transaction under the cluster-wide admission lock (see `repository`): read the counters, plan
the free slots round-robin (`domain.plan`), admit. Starting an admitted job (reserve credits, publish the design
request) happens after the commit, so a replica dying in between leaves an admitted job without `started_at`,
which `resume` starts again — the hold is named by the job and the publish is deduplicated, so nothing is done
twice and no admission is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher import domain as job_domain
from dispatcher import repository as jobs_repo
from dispatcher.admission import domain
from dispatcher.admission import repository as repo
from dispatcher.admission.settings import AdmissionSettings
from dispatcher.usecases.lifecycle import JobLifecycle
from social_video.v1 import common_pb2 as c
from svd.db import transaction
from svd.errors import Unavailable
from svd.telemetry import in_trace, metrics, tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

RESUME_BATCH = 100


@dataclass
class Admission:
    lifecycle: JobLifecycle
    settings: AdmissionSettings
    decisions: int = field(default=0, init=False)  # jobs this process admitted (observability, benchmarks)

    @property
    def limits(self) -> domain.Limits:
        return domain.Limits(self.settings.jobs_max_in_flight, self.settings.tenant_max_in_flight)

    async def admit(self) -> list[Any]:
        """One pass: admit queued jobs into every free slot, then start them. The admitted rows."""
        admitted = await self.decide()
        if admitted:
            await self._start_all(admitted)
        return admitted

    async def decide(self) -> list[Any]:
        """Admit queued jobs into the free slots, fairly, in one transaction (no job is started here)."""
        async with transaction(self.lifecycle.sessions) as session:
            await repo.lock(session)
            loads, top = await repo.loads(session)
            picks = domain.plan(loads, self.limits)
            if not picks:
                return []
            taken = await repo.take_oldest(session, dict(Counter(picks)))
            job_ids: list[str] = []
            turns: dict[str, int] = {}
            remaining = {tenant: list(ids) for tenant, ids in taken.items()}
            for tenant in picks:  # in plan order, so each tenant's turn is the order it was served in
                if remaining.get(tenant):
                    job_ids.append(remaining[tenant].pop(0))
                    top += 1
                    turns[tenant] = top
            now = utcnow()
            rows = await repo.admit(
                session,
                job_ids,
                turns,
                now,
                job_domain.deadline_after(now, self.lifecycle.job_deadline_s),
                job_domain.progress_for(c.JOB_STEP_RESERVING),
            )
        self.decisions += len(rows)
        for row in rows:
            metrics.admission_wait.record(max(0.0, (row.admitted_at - row.created_at).total_seconds()))
        return rows

    async def _start_all(self, jobs: list[Any]) -> None:
        gate = asyncio.Semaphore(self.settings.admission_start_concurrency)

        async def start(job: Any) -> None:
            async with gate:
                await self.start(job)

        await asyncio.gather(*(start(job) for job in jobs))

    async def start(self, job: Any) -> None:
        """Start an admitted job (reserve, publish the design request) in the trace its approval began (the rest of
        the pipeline continues it); a failure leaves it to `resume`."""
        try:
            with _tracer.start_as_current_span(
                "dispatcher.admission.start",
                context=in_trace(job.trace_id),
                attributes={"social_video.job_id": job.job_id},
            ):
                await self.lifecycle.advance(job)
        except Unavailable as exc:  # billing, PostgreSQL or NATS away for now
            log.warning("starting admitted job %s failed (%s); resumed within %.0f s", job.job_id, exc, self._resume_s)
        except Exception:
            log.warning(
                "starting admitted job %s failed; resumed within %.0f s", job.job_id, self._resume_s, exc_info=True
            )

    @property
    def _resume_s(self) -> float:
        return self.settings.admission_resume_after_s + self.settings.admission_tick_s

    async def resume(self) -> int:
        """Start again the admitted jobs whose start did not complete in time; how many were found."""
        before = utcnow() - timedelta(seconds=self.settings.admission_resume_after_s)
        async with self.lifecycle.sessions() as session:
            stalled = await repo.unstarted(session, before, RESUME_BATCH)
        for job in stalled:
            log.warning("resuming job %s: admitted at %s but never started", job.job_id, job.admitted_at)
        await self._start_all(stalled)
        return len(stalled)

    async def shortfall(self, session: AsyncSession, tenant_id: str, need: int) -> str | None:
        """Why `tenant_id` cannot afford a new job needing `need` credits (None when it can). Call it inside the
        transaction that creates the job: the tenant's checks are serialised until it ends."""
        await jobs_repo.lock_tenant_credits(session, tenant_id)
        # Admission reserves and records a hold under the same lock: billing's `held` and the jobs' recorded holds
        # agree here, so each job is counted once (held, or set aside until it reserves).
        try:
            balance = await self.lifecycle.billing.balance(tenant_id)
        except Unavailable as exc:  # the reserve at admission still guards the credits
            log.warning("billing unreachable checking tenant %s's credits (%s): not checked", tenant_id, exc.message)
            return None
        return domain.credit_shortfall(balance.available, await repo.set_aside(session, tenant_id), need)


async def positions(session: AsyncSession, rows: list[Any]) -> dict[str, int]:
    """Jobs ahead of each queued job among `rows` (others are left out)."""
    queued = [row for row in rows if row.status == "queued"]
    if not queued:
        return {}
    ranks = await repo.ranks(session, queued)
    loads, _ = await repo.loads(session, waiting_only=True)
    return {
        row.job_id: domain.jobs_ahead(row.tenant_id, ranks.get(row.job_id, 0), loads)
        for row in queued
        if row.job_id in ranks
    }
