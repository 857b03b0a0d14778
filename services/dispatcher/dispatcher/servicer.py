"""gRPC `VideoJobs` and `Brands` of the dispatcher, scoped to the caller's tenant."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import unicodedata
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher import repository as repo
from dispatcher.admission import positions
from dispatcher.retry import JobRetries
from dispatcher.usecases import JobLifecycle
from dispatcher.views import job_message
from dispatcher.watch import JobWatch
from social_video.v1 import brands_pb2, brands_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc
from svd import keys
from svd.db import transaction
from svd.enums import short_name
from svd.errors import FailedPrecondition, InvalidArgument, NotFound
from svd.grpc.auth import principal
from svd.logos import MAX_BRAND_LOGO_PIXELS, validate_brand_logo
from svd.storage import ObjectStore
from svd.timeutil import from_timestamp, to_timestamp, utcnow

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_EVENTS_PAGE = 1000
DEFAULT_EVENTS_PAGE = 200
HEX_COLOR = set("0123456789abcdefABCDEF")
MAX_FONT_FAMILY = 128  # the column's width
STILL_URL_TTL_S = 900  # long enough to look at, short enough not to be shared
MAX_TONE_OF_VOICE = 2000  # it rides in every design request: a few sentences, never near NATS' 1 MB payload


def page_limit(requested: int, default: int, maximum: int) -> int:
    """A page size the database accepts: 0 or less means the default, more than `maximum` is `maximum`."""
    return default if requested <= 0 else min(requested, maximum)


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


async def _read_visible_job(session: AsyncSession, job_id: str) -> jobs_pb2.Job:
    """The job as the caller may see it (its hold id for admin and service keys only); NotFound for another
    tenant's job, so ids cannot be probed."""
    caller = principal()
    row = await repo.job(session, job_id)
    if row is None or not caller.can_see(row.tenant_id):
        raise NotFound(f"job {job_id} not found")
    post = await repo.post(session, row.tenant_id, row.social_post_id)
    ahead = (await positions(session, [row])).get(row.job_id)
    return job_message(row, post, show_hold=caller.is_admin, ahead=ahead)


class VideoJobsServicer(jobs_pb2_grpc.VideoJobsServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        lifecycle: JobLifecycle,
        watch: JobWatch,
        retries: JobRetries,
        store: ObjectStore,
    ) -> None:
        self._sessions = sessions
        self._lifecycle = lifecycle
        self._watch = watch
        self._retries = retries
        self._store = store

    async def _visible_job(self, job_id: str) -> jobs_pb2.Job:
        async with self._sessions() as session:
            return await _read_visible_job(session, job_id)

    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> jobs_pb2.GetJobResponse:
        return jobs_pb2.GetJobResponse(job=await self._visible_job(request.job_id))

    async def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: Any) -> jobs_pb2.ListJobsResponse:
        caller = principal()
        tenant = caller.scope_tenant(request.tenant_id)
        limit = page_limit(request.limit, DEFAULT_PAGE, MAX_PAGE)
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
            ahead = await positions(session, rows)
            posts = await repo.posts_of(session, rows)
        token = _page_token(rows[-1]) if len(rows) == limit else ""
        jobs = [
            job_message(
                r, posts.get((r.tenant_id, r.social_post_id)), show_hold=caller.is_admin, ahead=ahead.get(r.job_id)
            )
            for r in rows
        ]
        return jobs_pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[jobs_pb2.WatchJobResponse]:
        """The job's state now, then every progress change as it is logged, then its end (see `dispatcher.watch`)."""
        async for item in self._watch.follow(request.job_id, _read_visible_job):
            yield item

    async def GetJobEvents(self, request: jobs_pb2.GetJobEventsRequest, context: Any) -> jobs_pb2.GetJobEventsResponse:
        await self._visible_job(request.job_id)
        async with self._sessions() as session:
            rows = await repo.events(
                session,
                request.job_id,
                from_timestamp(request.start_time) if request.HasField("start_time") else None,
                from_timestamp(request.end_time) if request.HasField("end_time") else None,
                page_limit(request.limit, DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE),
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
        """Stop a job wherever it is (credits released, provider task cancelled; a queued job just leaves the queue);
        cancelling twice is harmless."""
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

    async def RetryJob(self, request: jobs_pb2.RetryJobRequest, context: Any) -> jobs_pb2.RetryJobResponse:
        """A failed job runs again as a new attempt (see `dispatcher.retry`), by its tenant or an admin."""
        await self._visible_job(request.job_id)
        await self._retries.retry(request.job_id, request.from_step, request.request_id, principal().key_id)
        return jobs_pb2.RetryJobResponse(job=await self._visible_job(request.job_id))

    async def GetStillUrl(self, request: jobs_pb2.GetStillUrlRequest, context: Any) -> jobs_pb2.GetStillUrlResponse:
        job = await self._visible_job(request.job_id)
        if not job.still_key:
            raise NotFound(f"job {request.job_id} has no still frame yet")
        expires_at = utcnow() + timedelta(seconds=STILL_URL_TTL_S)
        url = await self._store.presigned_get(job.still_key, STILL_URL_TTL_S)
        return jobs_pb2.GetStillUrlResponse(url=url, expires_at=to_timestamp(expires_at))


class BrandsServicer(brands_pb2_grpc.BrandsServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        logo_max_pixels: int = MAX_BRAND_LOGO_PIXELS,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._logo_max_pixels = logo_max_pixels

    async def PutBrandAssets(
        self, request: brands_pb2.PutBrandAssetsRequest, context: Any
    ) -> brands_pb2.PutBrandAssetsResponse:
        """Replace a tenant's brand kit. A request without `logo_png` keeps the stored logo (the API has no way to
        say "remove it"; a new logo replaces it); `logo_key` is ignored on the way in."""
        assets = request.assets
        principal().require_tenant(assets.tenant_id, "tenant")
        check_brand_fields(assets)
        values: dict[str, Any] = {
            "primary_color": assets.primary_color,
            "secondary_color": assets.secondary_color,
            "accent_color": assets.accent_color,
            "font_family": assets.font_family,
            "tone_of_voice": assets.tone_of_voice,
        }
        if assets.logo_png:
            # Decoding a large image takes the CPU for a while: the event loop keeps serving meanwhile.
            digest = await asyncio.to_thread(checked_logo_digest, assets.logo_png, self._logo_max_pixels)
            values["logo_key"] = keys.logo_key(assets.tenant_id, digest)
            await self._store.put_bytes(values["logo_key"], assets.logo_png, "image/png")
        async with transaction(self._sessions) as session:
            row = await repo.put_brand(session, assets.tenant_id, **values)
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


def check_brand_fields(assets: brands_pb2.BrandAssets) -> None:
    """Every text field within what the pipeline can carry and the database can hold, or INVALID_ARGUMENT naming
    the field (never a database error later, or a design request too large for the bus)."""
    if not keys.is_safe_segment(assets.tenant_id):
        raise InvalidArgument(f"tenant_id must be {keys.ID_RULE}, got {assets.tenant_id[:140]!r}")
    for name in ("primary_color", "secondary_color", "accent_color"):
        value = getattr(assets, name)
        if len(value) != 7 or value[0] != "#" or not set(value[1:]) <= HEX_COLOR:
            raise InvalidArgument(f"{name} must be a hex colour like #1A2B3C, got {value[:20]!r}")
    _check_text("font_family", assets.font_family, MAX_FONT_FAMILY, multiline=False)
    _check_text("tone_of_voice", assets.tone_of_voice, MAX_TONE_OF_VOICE, multiline=True)


def _check_text(name: str, value: str, limit: int, *, multiline: bool) -> None:
    if len(value) > limit:
        raise InvalidArgument(f"{name} is {len(value)} characters long; at most {limit} are allowed")
    allowed = {"\n", "\t"} if multiline else set()
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        raise InvalidArgument(f"{name} must not contain control characters")


def checked_logo_digest(png: bytes, max_pixels: int) -> str:
    """A logo the still-frame compositor can use, and its content digest (its object key), or INVALID_ARGUMENT now
    rather than a failed video later. CPU-bound: the pixel cap is checked from the header, then every pixel is
    decoded."""
    try:
        validate_brand_logo(png, max_pixels)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    return hashlib.sha256(png).hexdigest()[:32]


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
