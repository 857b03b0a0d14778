"""gRPC `social_video.v1.Media`: stored media by id or post (paged), download URLs, and unlinking on rejection.

Objects are private: a linked record's `public_url` is a presigned URL made for the response (through the CDN when
one is configured) valid for the default download TTL, an unlinked one's is empty; `GetDownloadUrl` makes one with
the TTL asked for, for any media the caller may see.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media_store import paging
from media_store.models import media
from social_video.v1 import common_pb2 as c
from social_video.v1 import media_pb2, media_pb2_grpc
from svd.db import transaction
from svd.enums import from_short_name
from svd.errors import InvalidArgument, NotFound
from svd.grpc.auth import principal
from svd.storage import ObjectStore
from svd.timeutil import to_timestamp, utcnow

MAX_URL_TTL_S = 7 * 24 * 3600


def record(row: Any, url: str = "") -> media_pb2.MediaRecord:
    message = media_pb2.MediaRecord(
        media_id=row.media_id,
        tenant_id=row.tenant_id,
        social_post_id=row.social_post_id or "",
        job_id=row.job_id,
        media_type=row.media_type,
        mime_type=row.mime_type,
        platform=c.Platform.ValueType(from_short_name(c.Platform, row.platform)),
        platform_format=c.PlatformFormat.ValueType(from_short_name(c.PlatformFormat, row.platform_format)),
        duration_seconds=row.duration_seconds or 0.0,
        generated_by=row.generated_by,
        prompt=row.prompt,
        object_key=row.object_key,
        public_url=url,
        size_bytes=row.size_bytes or 0,
        width=row.width or 0,
        height=row.height or 0,
        codec=row.codec or "",
        fps=row.fps or 0.0,
        bitrate=row.bitrate or 0,
        has_audio=bool(row.has_audio),
        source_width=row.source_width or 0,
        source_height=row.source_height or 0,
        source_fps=row.source_fps or 0.0,
        original_object_key=row.original_object_key or "",
        provider=c.VideoProvider.ValueType(from_short_name(c.VideoProvider, row.provider) if row.provider else 0),
        original_social_post_id=row.original_social_post_id,
        parent_media_id=row.parent_media_id or "",
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )
    if row.slide_index is not None:
        message.slide_index = row.slide_index
    return message


class MediaServicer(media_pb2_grpc.MediaServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: ObjectStore, default_ttl_s: int) -> None:
        self._sessions = sessions
        self._store = store
        self._default_ttl_s = default_ttl_s

    async def _visible(self, media_id: str) -> Any:
        async with self._sessions() as session:
            row = (await session.execute(select(media).where(media.c.media_id == media_id))).first()
        if row is None or row.state != "stored" or not principal().can_see(row.tenant_id):
            raise NotFound(f"media {media_id} not found")
        return row

    async def _record(self, row: Any) -> media_pb2.MediaRecord:
        """The record with a fresh URL while it belongs to a post (an unlinked one's only from GetDownloadUrl)."""
        if not row.social_post_id:
            return record(row)
        return record(row, await self._store.presigned_get(row.object_key, self._default_ttl_s, via_cdn=True))

    async def GetMedia(self, request: media_pb2.GetMediaRequest, context: Any) -> media_pb2.GetMediaResponse:
        return media_pb2.GetMediaResponse(media=await self._record(await self._visible(request.media_id)))

    async def ListMedia(self, request: media_pb2.ListMediaRequest, context: Any) -> media_pb2.ListMediaResponse:
        if not request.tenant_id:
            raise InvalidArgument("tenant_id is required")
        principal().require_tenant(request.tenant_id, "tenant")
        limit = paging.clamp_limit(request.limit)
        cursor = paging.decode(request.page_token)
        conditions = [media.c.tenant_id == request.tenant_id, media.c.state == "stored"]
        if request.social_post_id:
            linked = media.c.social_post_id == request.social_post_id
            if request.include_unlinked:
                unlinked = and_(
                    media.c.social_post_id.is_(None), media.c.original_social_post_id == request.social_post_id
                )
                conditions.append(or_(linked, unlinked))
            else:
                conditions.append(linked)
        elif not request.include_unlinked:
            conditions.append(media.c.social_post_id.is_not(None))
        if cursor is not None:
            after = tuple_(literal(cursor.created_at), literal(cursor.media_id))
            conditions.append(tuple_(media.c.created_at, media.c.media_id) > after)
        query = select(media).where(*conditions).order_by(media.c.created_at, media.c.media_id).limit(limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        page, more = rows[:limit], len(rows) > limit
        token = paging.encode(paging.Cursor(page[-1].created_at, page[-1].media_id)) if more else ""
        return media_pb2.ListMediaResponse(media=[await self._record(r) for r in page], next_page_token=token)

    async def GetDownloadUrl(
        self, request: media_pb2.GetDownloadUrlRequest, context: Any
    ) -> media_pb2.GetDownloadUrlResponse:
        row = await self._visible(request.media_id)
        ttl = request.expires_in.seconds if request.HasField("expires_in") else self._default_ttl_s
        if not 0 < ttl <= MAX_URL_TTL_S:
            raise InvalidArgument(f"expires_in must be between 1 s and {MAX_URL_TTL_S} s")
        url = await self._store.presigned_get(row.object_key, ttl, via_cdn=True)
        return media_pb2.GetDownloadUrlResponse(url=url, expires_at=to_timestamp(utcnow() + timedelta(seconds=ttl)))

    async def UnlinkMedia(self, request: media_pb2.UnlinkMediaRequest, context: Any) -> media_pb2.UnlinkMediaResponse:
        """Unlink the post's media (kept, no longer the post's); with `media_id`, only that Media and its poster."""
        principal().require_tenant(request.tenant_id, "tenant")
        if not request.social_post_id:
            raise InvalidArgument("social_post_id is required")
        conditions = [media.c.tenant_id == request.tenant_id, media.c.social_post_id == request.social_post_id]
        if request.media_id:
            conditions.append(or_(media.c.media_id == request.media_id, media.c.parent_media_id == request.media_id))
        async with transaction(self._sessions) as session:
            rows = (
                await session.execute(
                    update(media).where(*conditions).values(social_post_id=None, updated_at=utcnow()).returning(media)
                )
            ).all()
        return media_pb2.UnlinkMediaResponse(media=[await self._record(r) for r in rows])
