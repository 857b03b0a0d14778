"""Video-gateway's table (schema `video_gateway`): one submission per job run, so a redelivery never re-submits."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func

SCHEMA = "video_gateway"
metadata = MetaData(schema=SCHEMA)

submissions = Table(
    "submissions",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("provider_job_id", String(128), nullable=False),
    Column("motion_prompt", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
