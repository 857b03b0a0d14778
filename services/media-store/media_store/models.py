"""Media-store's table (schema `media`): one record per stored object; records are never deleted.

A video record is created when its job run is first seen (`uploading`), carries the lease of the worker storing it,
and ends `stored` or `failed` (with the reason); what the provider rendered is noted once probed (`source_*`),
before the conformed deliverable is written; its poster gets a record of its own once the video is stored.
`public_url` is empty: objects are private and URLs are presigned when asked for (a non-empty value marks an
object an earlier version stored public, until the start-up sweep privatises it).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, Text, func

SCHEMA = "media"
metadata = MetaData(schema=SCHEMA)

media = Table(
    "media",
    metadata,
    Column("media_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("social_post_id", String(128)),
    Column("original_social_post_id", String(128), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("run", Integer, nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("mime_type", String(64), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("platform_format", String(32), nullable=False),
    Column("slide_index", Integer),
    Column("duration_seconds", Float),
    Column("generated_by", String(64), nullable=False),
    Column("prompt", Text, nullable=False, server_default=""),
    Column("object_key", Text, nullable=False, unique=True),
    Column("public_url", Text, nullable=False),
    Column("size_bytes", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Column("codec", String(32)),
    # The stored (conformed) video: frame rate, the file's average bit rate (bit/s), whether it has sound; what the
    # provider rendered (its original's size and rate); the original's key when KEEP_ORIGINAL kept it.
    Column("fps", Float),
    Column("bitrate", BigInteger),
    Column("has_audio", Boolean),
    Column("source_width", Integer),
    Column("source_height", Integer),
    Column("source_fps", Float),
    Column("original_object_key", Text),
    Column("provider", String(16), nullable=False, server_default=""),
    Column("parent_media_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("failure_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
