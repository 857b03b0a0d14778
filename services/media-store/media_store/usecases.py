"""Media-store use cases: store a ready video once per job run, validated and probed, with its poster.

`video_ready` claims one record per (job, run) first, so however often the event is redelivered the video gets one
object key and one Media record. The transfer streams the provider's bytes into that key; the stored object is then
probed through ranged reads. A video that fails validation is deleted again (it never becomes media) and the job
fails with phase `storing`; so does a download or store failure once its retries are spent. Infrastructure errors
(database, bus) propagate, so the consumer redelivers the event with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media_store.guards import SourcePolicy, SourceRefused
from media_store.models import media
from media_store.probe import InvalidVideo, RangeReader, VideoFacts, probe
from media_store.transfer import NotAnMp4, TransferError, transfer
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd import keys
from svd.bus import topology
from svd.bus.consumer import Ack, Outcome
from svd.bus.publisher import EventPublisher
from svd.db import transaction
from svd.enums import short_name
from svd.errors import Unavailable
from svd.ids import message_id, new_id, short_id
from svd.storage import ObjectStore, StoredObject
from svd.telemetry import tracer
from svd.timeutil import utcnow

log = logging.getLogger(__name__)
_tracer = tracer("media-store")
GENERATED_BY = "social-video-designer"
Heartbeat = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class TransferConfig:
    max_bytes: int
    part_size: int
    parts_in_flight: int
    attempts: int
    backoff_s: float
    deadline_s: float
    heartbeat_s: float
    allowed_hosts: dict[str, list[str]] = field(default_factory=dict)
    allow_loopback_http: bool = False

    def policy(self, provider: str) -> SourcePolicy:
        return SourcePolicy(tuple(self.allowed_hosts.get(provider, ())), self.allow_loopback_http)


class StoringFailed(Exception):
    """The video cannot be stored; the job fails with this reason."""


@dataclass
class MediaStore:
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    http: httpx.AsyncClient
    publisher: EventPublisher
    config: TransferConfig

    async def video_ready(self, event: pipeline_pb2.VideoReady, heartbeat: Heartbeat | None = None) -> Outcome:
        ref = event.ref
        with _tracer.start_as_current_span("media_store.store_video") as span:
            span.set_attribute("social_video.job_id", ref.job_id)
            record = await self._claim(event)
            span.set_attribute("social_video.object_key", record.object_key)
            if record.state != "stored":
                try:
                    async with _beating(heartbeat, self.config.heartbeat_s):
                        record = await self._store(event, record)
                except (StoringFailed, Unavailable) as exc:  # Unavailable: the store, after its retries
                    log.warning("job %s run %d: storing failed: %s", ref.job_id, ref.run, exc)
                    await self._set_state(record.media_id, "failed")
                    await self._fail(event, str(exc))
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

    async def _store(self, event: pipeline_pb2.VideoReady, record: Any) -> Any:
        if not event.output_urls:
            raise StoringFailed("the provider returned no output URL")
        await self._progress(event.ref, "Downloading and storing the video")
        key = record.object_key
        # A crashed earlier attempt at this key may have left parts behind.
        aborted = await self.store.abort_uploads(key, exact=True)
        if aborted:
            log.info("aborted %d unfinished upload(s) of %s left by an earlier attempt", len(aborted), key)
        obj = await self._transfer(event, key)
        try:
            facts, poster = await self._probe(obj)
        except InvalidVideo as exc:
            await self.store.delete(key)  # never media: the pipeline keeps only valid videos
            raise StoringFailed(f"the provider's file is not a playable MP4: {exc}") from exc
        poster_key = keys.poster_key(key)
        await self.store.put_bytes(poster_key, poster, "image/jpeg", public=True)
        return await self._record(record, obj, facts, poster_key, len(poster))

    async def _transfer(self, event: pipeline_pb2.VideoReady, key: str) -> StoredObject:
        config = self.config
        provider = short_name(c.VideoProvider, event.provider)
        try:
            async with asyncio.timeout(config.deadline_s):
                return await transfer(
                    self.http,
                    event.output_urls[0],
                    config.policy(provider),
                    self.store,
                    key,
                    attempts=config.attempts,
                    max_bytes=config.max_bytes,
                    part_size=config.part_size,
                    parts_in_flight=config.parts_in_flight,
                    base_delay_s=config.backoff_s,
                )
        except TimeoutError as exc:
            raise StoringFailed(f"storing took longer than {config.deadline_s:.0f} s") from exc
        except (TransferError, SourceRefused) as exc:
            raise StoringFailed(exc.message) from exc
        except NotAnMp4 as exc:
            raise StoringFailed(str(exc)) from exc
        except Unavailable as exc:
            raise StoringFailed(f"object store unavailable: {exc.message}") from exc

    async def _probe(self, obj: StoredObject) -> tuple[VideoFacts, bytes]:
        loop = asyncio.get_running_loop()

        def fetch(offset: int, length: int) -> bytes:
            future = asyncio.run_coroutine_threadsafe(self.store.get_range(obj.key, offset, length), loop)
            return future.result(timeout=120)

        return await asyncio.to_thread(probe, RangeReader(fetch, obj.size), obj.size)

    async def _record(self, record: Any, obj: StoredObject, facts: VideoFacts, poster_key: str, size: int) -> Any:
        """The poster's record (linked to the video) and the video's final facts, in one transaction."""
        shared = {
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
        async with transaction(self.sessions) as session:
            await session.execute(
                pg_insert(media)
                .values(
                    media_id=new_id(),
                    media_type="social_poster",
                    mime_type="image/jpeg",
                    object_key=poster_key,
                    public_url=self.store.public_url(poster_key),
                    size_bytes=size,
                    width=facts.width,
                    height=facts.height,
                    parent_media_id=record.media_id,
                    state="stored",
                    **shared,
                )
                .on_conflict_do_nothing()
            )
            return (
                await session.execute(
                    update(media)
                    .where(media.c.media_id == record.media_id)
                    .values(
                        state="stored",
                        public_url=self.store.public_url(obj.key),
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

    async def _set_state(self, media_id: str, state: str) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(
                update(media).where(media.c.media_id == media_id).values(state=state, updated_at=utcnow())
            )

    async def _progress(self, ref: pipeline_pb2.JobRef, label: str) -> None:
        progress = pipeline_pb2.VideoProgress(ref=ref, step=c.JOB_STEP_STORING, percent=0, label=label)
        await self.publisher.publish(topology.PROGRESS, progress, message_id(ref.job_id, "progress.storing", ref.run))

    async def _fail(self, event: pipeline_pb2.VideoReady, reason: str) -> None:
        ref = event.ref
        failed = pipeline_pb2.VideoFailed(
            ref=ref,
            phase=c.JOB_STEP_STORING,
            reason=reason,
            provider=event.provider,
            provider_job_id=event.provider_job_id,
        )
        await self.publisher.publish(topology.FAILED, failed, message_id(ref.job_id, "failed", ref.run))


@contextlib.asynccontextmanager
async def _beating(heartbeat: Heartbeat | None, every_s: float) -> AsyncIterator[None]:
    """Call `heartbeat` every `every_s` seconds while the body runs (a long transfer is still alive)."""
    if heartbeat is None:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await heartbeat()
            except Exception:  # a missed heartbeat only risks a redelivery, which is idempotent
                log.warning("heartbeat failed", exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
