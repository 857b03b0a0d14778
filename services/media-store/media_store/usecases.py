"""Media-store use cases: store a ready video once per job run, and unlink media on rejection."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from media_store.models import media
from media_store.probe import InvalidVideo, probe
from media_store.transfer import DownloadError, stream_to_store
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd import keys
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.enums import short_name
from svd.errors import InvalidArgument
from svd.ids import message_id, new_id, short_id
from svd.storage import ObjectStore
from svd.telemetry import tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer("media-store")
GENERATED_BY = "social-video-designer"


@dataclass
class MediaStore:
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    http: httpx.AsyncClient
    publisher: EventPublisher
    max_bytes: int
    part_size: int
    parts_in_flight: int
    download_attempts: int

    async def _claim(self, event: pipeline_pb2.VideoReady) -> Any:
        """The job run's video record, created on first sight so a redelivery reuses its object key."""
        ref = event.ref
        async with transaction(self.sessions) as session:
            await session.execute(
                pg_insert(media)
                .values(
                    media_id=new_id(),
                    tenant_id=ref.tenant_id,
                    social_post_id=ref.social_post_id,
                    original_social_post_id=ref.social_post_id,
                    job_id=ref.job_id,
                    run=ref.run,
                    media_type="social_video",
                    mime_type="video/mp4",
                    platform=short_name(c.Platform, event.spec.platform),
                    platform_format=short_name(c.PlatformFormat, event.spec.platform_format),
                    generated_by=GENERATED_BY,
                    prompt=event.motion_prompt,
                    object_key=keys.video_key(ref.tenant_id, ref.social_post_id, short_id()),
                    public_url="",
                    provider=short_name(c.VideoProvider, event.provider),
                    state="uploading",
                )
                .on_conflict_do_nothing(constraint="one_media_per_job_run")
            )
            return (
                await session.execute(
                    select(media).where(
                        media.c.job_id == ref.job_id, media.c.run == ref.run, media.c.media_type == "social_video"
                    )
                )
            ).one()

    async def video_ready(self, event: pipeline_pb2.VideoReady) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("media_store.store_video") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            record = await self._claim(event)
            span.set_attribute("social_video.object_key", record.object_key)
            if record.state != "stored":
                if not event.output_urls:
                    await self._fail(ref, "the provider returned no output URL")
                    return Ack()
                try:
                    record = await self._transfer(event.output_urls[0], record)
                except (DownloadError, InvalidVideo, InvalidArgument) as exc:
                    message = getattr(exc, "message", str(exc))
                    await self._fail(ref, message)
                    return Ack()
            stored = pipeline_pb2.VideoStored(
                ref=ref,
                provider=event.provider,
                media_id=record.media_id,
                object_key=record.object_key,
                public_url=record.public_url,
                duration_seconds=record.duration_seconds or 0.0,
                size_bytes=record.size_bytes or 0,
                still_key=event.still_key,
                requested_duration_seconds=event.spec.duration_seconds,
            )
            await self.publisher.publish(topology.STORED, stored, message_id(ref.job_id, "stored", ref.run))
        return Ack()

    async def _transfer(self, url: str, record: Any) -> Any:
        with tempfile.TemporaryDirectory(prefix="media-store-") as tmp:
            spool = Path(tmp) / "video.mp4"
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self.download_attempts),
                wait=wait_exponential(multiplier=1, min=1, max=10),
                retry=retry_if_exception(lambda e: isinstance(e, DownloadError) and e.retryable),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    obj = await stream_to_store(
                        self.http,
                        url,
                        self.store,
                        record.object_key,
                        spool,
                        max_bytes=self.max_bytes,
                        part_size=self.part_size,
                        parts_in_flight=self.parts_in_flight,
                    )
            facts, poster = probe(spool)
        poster_key = keys.poster_key(record.object_key)
        await self.store.put_bytes(poster_key, poster, "image/jpeg", public=True)
        async with transaction(self.sessions) as session:
            values = {
                "tenant_id": record.tenant_id,
                "social_post_id": record.social_post_id,
                "original_social_post_id": record.original_social_post_id,
                "job_id": record.job_id,
                "run": record.run,
                "platform": record.platform,
                "platform_format": record.platform_format,
                "generated_by": GENERATED_BY,
                "prompt": record.prompt,
                "provider": record.provider,
            }
            await session.execute(
                pg_insert(media)
                .values(
                    media_id=new_id(),
                    media_type="social_poster",
                    mime_type="image/jpeg",
                    object_key=poster_key,
                    public_url=self.store.public_url(poster_key),
                    size_bytes=len(poster),
                    width=facts.width,
                    height=facts.height,
                    parent_media_id=record.media_id,
                    state="stored",
                    **values,
                )
                .on_conflict_do_nothing()
            )
            return (
                await session.execute(
                    update(media)
                    .where(media.c.media_id == record.media_id)
                    .values(
                        state="stored",
                        public_url=self.store.public_url(record.object_key),
                        size_bytes=obj.size,
                        duration_seconds=facts.duration_seconds,
                        width=facts.width,
                        height=facts.height,
                        codec=facts.codec,
                        updated_at=utcnow(),
                    )
                    .returning(media)
                )
            ).one()

    async def _fail(self, ref: pipeline_pb2.JobRef, reason: str) -> None:
        failed = pipeline_pb2.VideoFailed(ref=ref, phase=c.JOB_STEP_STORING, reason=reason)
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))
