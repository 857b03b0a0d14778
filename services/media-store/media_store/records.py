"""Media records of a job run: created on first sight, finished once (`stored` or `failed`) by the lease holder.

A run's video record is created when its `video.ready` is first handled, so every redelivery reuses its object key.
Finishing is one conditional UPDATE that only the current lease holder can make, from `uploading` only: a run is
stored or failed, never both, whichever worker got there. The sweeps find what crashed or abandoned runs left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media_store.models import media
from media_store.probe import VideoFacts
from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.db import transaction
from svd.enums import short_name
from svd.ids import new_id
from svd.storage import StoredObject
from svd.timeutil import utcnow

GENERATED_BY = "social-video-designer"


@dataclass(frozen=True)
class Records:
    sessions: async_sessionmaker[AsyncSession]

    async def claim(self, event: pipeline_pb2.VideoReady, object_key: str) -> Any:
        """The job run's video record, created with `object_key` unless it exists."""
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
                    object_key=object_key,
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

    async def get(self, media_id: str) -> Any:
        async with self.sessions() as session:
            return (await session.execute(select(media).where(media.c.media_id == media_id))).one()

    async def note_source(self, media_id: str, owner: str, width: int, height: int, fps: float) -> bool:
        """Record what the provider rendered, before the deliverable made from it is written; False when the lease
        is not ours. A later attempt that finds the deliverable already stored reads these back."""
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(media)
                .where(media.c.media_id == media_id, media.c.lease_owner == owner, media.c.state == "uploading")
                .values(source_width=width, source_height=height, source_fps=round(fps, 3), updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish_stored(
        self,
        record: Any,
        owner: str,
        obj: StoredObject,
        facts: VideoFacts,
        poster_key: str,
        poster_size: int,
        original_key: str | None = None,
    ) -> Any | None:
        """Mark the run stored and record its poster, in one transaction; None when the lease is not ours."""
        leased = (media.c.media_id == record.media_id, media.c.lease_owner == owner, media.c.state == "uploading")
        async with transaction(self.sessions) as session:
            stored = (
                await session.execute(
                    update(media)
                    .where(*leased)
                    .values(
                        state="stored",
                        lease_owner=None,
                        lease_until=None,
                        size_bytes=obj.size,
                        duration_seconds=facts.duration_seconds,
                        width=facts.width,
                        height=facts.height,
                        codec=facts.codec,
                        fps=facts.fps,
                        bitrate=facts.bitrate,
                        has_audio=facts.has_audio,
                        original_object_key=original_key,
                        updated_at=utcnow(),
                    )
                    .returning(media)
                )
            ).one_or_none()
            if stored is None:
                return None
            await session.execute(
                pg_insert(media)
                .values(
                    media_id=new_id(),
                    tenant_id=record.tenant_id,
                    social_post_id=record.social_post_id,
                    original_social_post_id=record.original_social_post_id,
                    job_id=record.job_id,
                    run=record.run,
                    media_type="social_poster",
                    mime_type="image/jpeg",
                    platform=record.platform,
                    platform_format=record.platform_format,
                    generated_by=GENERATED_BY,
                    prompt=record.prompt,
                    object_key=poster_key,
                    public_url="",
                    size_bytes=poster_size,
                    width=facts.width,
                    height=facts.height,
                    provider=record.provider,
                    parent_media_id=record.media_id,
                    state="stored",
                )
                .on_conflict_do_nothing()
            )
            return stored

    async def finish_failed(self, media_id: str, owner: str, reason: str) -> bool:
        """Mark the run failed with `reason`; False when the lease is not ours."""
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(media)
                .where(media.c.media_id == media_id, media.c.lease_owner == owner, media.c.state == "uploading")
                .values(state="failed", failure_reason=reason, lease_owner=None, lease_until=None, updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def abandoned(self, older_than_s: float, limit: int = 100) -> list[Any]:
        """Runs left `uploading` for `older_than_s` with no live lease (their job was given up on)."""
        cutoff = func.now() - timedelta(seconds=older_than_s)
        async with self.sessions() as session:
            rows = await session.execute(
                select(media.c.media_id, media.c.object_key)
                .where(
                    media.c.state == "uploading",
                    media.c.updated_at < cutoff,
                    or_(media.c.lease_until.is_(None), media.c.lease_until < func.now()),
                )
                .limit(limit)
            )
            return list(rows.all())

    async def legacy_public(self, limit: int = 500) -> list[Any]:
        """Records whose objects an earlier version stored world-readable."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(media.c.media_id, media.c.object_key).where(media.c.public_url != "").limit(limit)
            )
            return list(rows.all())

    async def mark_private(self, media_id: str) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(update(media).where(media.c.media_id == media_id).values(public_url=""))
