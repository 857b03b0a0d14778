"""gRPC `VideoJobs` and `Brands` of the dispatcher, scoped to the caller's tenant."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import domain
from dispatcher import repository as repo
from dispatcher.usecases import JobLifecycle
from dispatcher.views import job_message
from social_video.v1 import brands_pb2, brands_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc
from svd import keys
from svd.db import transaction
from svd.enums import from_short_name, short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.grpc.auth import principal
from svd.logos import validate_brand_logo
from svd.storage import ObjectStore
from svd.timeutil import from_timestamp, to_timestamp

MAX_PAGE = 200
HEX_COLOR = set("0123456789abcdefABCDEF")


def _page_token(row: Any) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_token(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), str(job_id)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("invalid page_token") from exc


def _update(
    job: jobs_pb2.Job, step: int, percent: int, label: str, terminal: bool = False
) -> jobs_pb2.WatchJobResponse:
    if job.status == common_pb2.JOB_STATUS_FAILED and terminal:
        label = job.error
    elif job.status == common_pb2.JOB_STATUS_CANCELLED and terminal:
        label = job.error
    return jobs_pb2.WatchJobResponse(
        job=job,
        step=step,  # type: ignore[arg-type]
        label=label or domain.step_label(step),
        percent=percent,
        terminal=terminal,
    )


class VideoJobsServicer(jobs_pb2_grpc.VideoJobsServicer):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], lifecycle: JobLifecycle, watch_interval_s: float
    ) -> None:
        self._sessions = sessions
        self._lifecycle = lifecycle
        self._watch_interval_s = watch_interval_s

    async def _visible_job(self, job_id: str) -> jobs_pb2.Job:
        async with self._sessions() as session:
            row = await repo.job(session, job_id)
            if row is None or not principal().can_see(row.tenant_id):
                raise NotFound(f"job {job_id} not found")
            post = await repo.post(session, row.tenant_id, row.social_post_id)
        return job_message(row, post)

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=await self._visible_job(request.job_id))

    async def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: Any) -> jobs_pb2.ListJobsResponse:
        tenant = principal().scope_tenant(request.tenant_id)
        limit = min(request.limit or 50, MAX_PAGE)
        async with self._sessions() as session:
            rows = await repo.list_jobs(
                session,
                tenant,
                request.social_post_id,
                short_name(common_pb2.JobStatus, request.status) if request.status else "",
                from_timestamp(request.start_time) if request.HasField("start_time") else None,
                from_timestamp(request.end_time) if request.HasField("end_time") else None,
                limit,
                _parse_token(request.page_token),
            )
        token = _page_token(rows[-1]) if len(rows) == limit else ""
        return jobs_pb2.ListJobsResponse(jobs=[job_message(r) for r in rows], next_page_token=token)

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        """The job's state now, then every progress change from its event log as it is written, then its end.

        Following the log rather than sampling the row means a step that lasts less than the watch interval is
        still seen, in order.
        """
        job = await self._visible_job(request.job_id)
        async with self._sessions() as session:
            history = await repo.events_after(session, request.job_id, 0)
        last_event = history[-1].event_id if history else 0
        last = (job.step, job.progress)
        yield _update(job, job.step, job.progress, "")
        while job.status not in domain.TERMINAL_JOB_STATUSES:
            await asyncio.sleep(self._watch_interval_s)
            async with self._sessions() as session:
                rows = await repo.events_after(session, request.job_id, last_event)
            job = await self._visible_job(request.job_id)
            for row in rows:
                last_event = row.event_id
                if "step" not in row.metadata:
                    continue
                step = from_short_name(common_pb2.JobStep, row.metadata["step"])
                percent = int(row.metadata.get("percent", 0))
                if (step, percent) > last:
                    last = (step, percent)
                    yield _update(job, step, percent, row.message, terminal=False)
        yield _update(job, job.step, job.progress, "", terminal=True)

    async def GetJobEvents(self, request: jobs_pb2.GetJobEventsRequest, context: Any) -> jobs_pb2.GetJobEventsResponse:
        await self._visible_job(request.job_id)
        async with self._sessions() as session:
            rows = await repo.events(
                session,
                request.job_id,
                from_timestamp(request.start_time) if request.HasField("start_time") else None,
                from_timestamp(request.end_time) if request.HasField("end_time") else None,
                min(request.limit or 200, 1000),
            )
        events = []
        for row in rows:
            metadata = struct_pb2.Struct()
            metadata.update(row.metadata)
            events.append(
                jobs_pb2.JobEvent(time=to_timestamp(row.time), level=row.level, message=row.message, metadata=metadata)
            )
        return jobs_pb2.GetJobEventsResponse(events=events)

    async def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: Any) -> jobs_pb2.CancelJobResponse:
        """Stop a job wherever it is (credits released, provider task cancelled); cancelling twice is harmless."""
        job = await self._visible_job(request.job_id)
        if job.status in (common_pb2.JOB_STATUS_SUCCEEDED, common_pb2.JOB_STATUS_FAILED):
            raise FailedPrecondition(
                f"job {request.job_id} already {short_name(common_pb2.JobStatus, job.status)}; nothing to cancel"
            )
        caller = principal()
        who = "an admin" if caller.is_admin else f"tenant {caller.tenant_id}"
        reason = request.reason.strip()[:500] or f"cancelled by {who}"
        await self._lifecycle.cancel(request.job_id, reason)
        return jobs_pb2.CancelJobResponse(job=await self._visible_job(request.job_id))


class BrandsServicer(brands_pb2_grpc.BrandsServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: ObjectStore) -> None:
        self._sessions = sessions
        self._store = store

    async def PutBrandAssets(
        self, request: brands_pb2.PutBrandAssetsRequest, context: Any
    ) -> brands_pb2.PutBrandAssetsResponse:
        assets = request.assets
        principal().require_tenant(assets.tenant_id, "tenant")
        for name in ("primary_color", "secondary_color", "accent_color"):
            value = getattr(assets, name)
            if len(value) != 7 or value[0] != "#" or not set(value[1:]) <= HEX_COLOR:
                raise InvalidArgument(f"{name} must be a hex colour like #1A2B3C, got {value!r}")
        logo_key = ""
        if assets.logo_png:
            validate_logo(assets.logo_png)
            logo_key = keys.logo_key(assets.tenant_id, hashlib.sha256(assets.logo_png).hexdigest()[:32])
            await self._store.put_bytes(logo_key, assets.logo_png, "image/png")
        async with transaction(self._sessions) as session:
            row = await repo.put_brand(
                session,
                assets.tenant_id,
                primary_color=assets.primary_color,
                secondary_color=assets.secondary_color,
                accent_color=assets.accent_color,
                font_family=assets.font_family,
                tone_of_voice=assets.tone_of_voice,
                logo_key=logo_key,
            )
        return brands_pb2.PutBrandAssetsResponse(assets=_assets(row))

    async def GetBrandAssets(
        self, request: brands_pb2.GetBrandAssetsRequest, context: Any
    ) -> brands_pb2.GetBrandAssetsResponse:
        principal().require_tenant(request.tenant_id, "brand")
        async with self._sessions() as session:
            row = await repo.brand(session, request.tenant_id)
        if row is None:
            raise NotFound("brand not found")
        return brands_pb2.GetBrandAssetsResponse(assets=_assets(row))


def validate_logo(png: bytes) -> None:
    """A logo must be a PNG the still-frame compositor can use, or the request fails now rather than the video later.

    The check is the compositor's own (decodes every pixel, same size and aspect limits), so a logo accepted here
    always composites later.
    """
    try:
        validate_brand_logo(png)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


def _assets(row: Any) -> brands_pb2.BrandAssets:
    return brands_pb2.BrandAssets(
        tenant_id=row.tenant_id,
        primary_color=row.primary_color,
        secondary_color=row.secondary_color,
        accent_color=row.accent_color,
        font_family=row.font_family,
        tone_of_voice=row.tone_of_voice,
        logo_key=row.logo_key,
        updated_at=to_timestamp(row.updated_at),
    )
