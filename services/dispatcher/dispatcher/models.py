"""Dispatcher's tables (schema `dispatcher`): posts, jobs, the job event log, brands, processed events and the
admission counters."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, Numeric, String, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "dispatcher"
metadata = MetaData(schema=SCHEMA)

posts = Table(
    "posts",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("social_post_id", String(128), primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("platform_format", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("deliverable_status", String(32), nullable=False),
    Column("design_job_id", String(128)),
    Column("design_provider", String(32)),
    Column("current_job_id", String(64)),
    Column("media_id", String(64)),
    Column("status_reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("social_post_id", String(128), nullable=False),
    Column("source_event_id", String(256), nullable=False, unique=True),
    Column("run", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", String(16), nullable=False),
    Column("progress", Integer, nullable=False),
    Column("error", Text, nullable=False, server_default=""),
    Column("failed_phase", String(16), nullable=False, server_default=""),
    Column("wake_reason", String(32), nullable=False),
    Column("reviewer_feedback", Text, nullable=False, server_default=""),
    Column("platform", String(32), nullable=False),
    Column("platform_format", String(32), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("copy", JSONB, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
    Column("aspect_ratio", String(8), nullable=False),
    Column("with_audio", Boolean, nullable=False),
    Column("reservation_id", String(64), nullable=False, server_default=""),
    Column("credits_reserved", BigInteger, nullable=False, server_default="0"),
    Column("credits_consumed", BigInteger, nullable=False, server_default="0"),
    Column("provider", String(16), nullable=False, server_default=""),
    Column("provider_job_id", String(128), nullable=False, server_default=""),
    Column("motion_prompt", Text, nullable=False, server_default=""),
    Column("still_key", Text, nullable=False, server_default=""),
    Column("media_id", String(64), nullable=False, server_default=""),
    Column("object_key", Text, nullable=False, server_default=""),
    Column("trace_id", String(32), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Past it, the sweeper fails the job ("timeout: stuck at <step>") and releases its hold.
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    # 1, then one more for each `RetryJob`: each attempt runs the pipeline under a run number of its own.
    Column("attempt", Integer, nullable=False, server_default="1"),
    # The provider's money cost (US dollars, `dispatcher.costs`): estimated when credits are held, before the paid
    # call; actual when the video is stored. NULL: not known (no price for the provider).
    Column("estimated_cost_usd", Numeric(12, 4)),
    Column("actual_cost_usd", Numeric(12, 4)),
    # Admission (migration 0008): when the job entered the paid pipeline, when its design request went out (an
    # admitted job without it is resumed), what it was quoted at approval, and what its progress bar says now.
    Column("admitted_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("credits_needed", BigInteger, nullable=False, server_default="0"),
    Column("label", Text, nullable=False, server_default=""),
)

# Per tenant: queued and running jobs (kept by a trigger on `jobs`) and its latest admission turn (round-robin).
admission_tenants = Table(
    "admission_tenants",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("queued", Integer, nullable=False, server_default="0"),
    Column("running", Integer, nullable=False, server_default="0"),
    Column("last_turn", BigInteger),
)

job_events = Table(
    "job_events",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("level", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
)

brands = Table(
    "brands",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("primary_color", String(7), nullable=False),
    Column("secondary_color", String(7), nullable=False),
    Column("accent_color", String(7), nullable=False),
    Column("font_family", String(128), nullable=False, server_default=""),
    Column("tone_of_voice", Text, nullable=False, server_default=""),
    Column("logo_key", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(256), primary_key=True),
    Column("subject", String(128), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
