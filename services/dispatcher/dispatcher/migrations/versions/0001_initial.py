"""Dispatcher: posts, jobs, job events, brands, processed events.

Revision ID: dispatcher_0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "dispatcher_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade(schema: str) -> None:
    op.create_table(
        "posts",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("social_post_id", sa.String(128), primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_format", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("deliverable_status", sa.String(32), nullable=False),
        sa.Column("design_job_id", sa.String(128)),
        sa.Column("design_provider", sa.String(32)),
        sa.Column("current_job_id", sa.String(64)),
        sa.Column("media_id", sa.String(64)),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
        *_stamps(),
        schema=schema,
    )
    text_default: dict[str, Any] = {"nullable": False, "server_default": ""}
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("social_post_id", sa.String(128), nullable=False),
        sa.Column("source_event_id", sa.String(256), nullable=False, unique=True),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, **text_default),
        sa.Column("failed_phase", sa.String(16), **text_default),
        sa.Column("wake_reason", sa.String(32), nullable=False),
        sa.Column("reviewer_feedback", sa.Text, **text_default),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_format", sa.String(32), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("copy", JSONB, nullable=False),
        sa.Column("duration_seconds", sa.Integer, nullable=False),
        sa.Column("aspect_ratio", sa.String(8), nullable=False),
        sa.Column("with_audio", sa.Boolean, nullable=False),
        sa.Column("reservation_id", sa.String(64), **text_default),
        sa.Column("credits_reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("credits_consumed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("provider", sa.String(16), **text_default),
        sa.Column("provider_job_id", sa.String(128), **text_default),
        sa.Column("motion_prompt", sa.Text, **text_default),
        sa.Column("still_key", sa.Text, **text_default),
        sa.Column("media_id", sa.String(64), **text_default),
        sa.Column("object_key", sa.Text, **text_default),
        sa.Column("trace_id", sa.String(32), **text_default),
        *_stamps(),
        schema=schema,
    )
    op.create_index("jobs_by_tenant_created", "jobs", ["tenant_id", "created_at", "job_id"], schema=schema)
    op.create_index("jobs_by_post", "jobs", ["tenant_id", "social_post_id", "run"], schema=schema)
    op.create_table(
        "job_events",
        sa.Column("event_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("metadata", JSONB, nullable=False),
        schema=schema,
    )
    op.create_index("job_events_by_job", "job_events", ["job_id", "event_id"], schema=schema)
    op.create_table(
        "brands",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("primary_color", sa.String(7), nullable=False),
        sa.Column("secondary_color", sa.String(7), nullable=False),
        sa.Column("accent_color", sa.String(7), nullable=False),
        sa.Column("font_family", sa.String(128), **text_default),
        sa.Column("tone_of_voice", sa.Text, **text_default),
        sa.Column("logo_key", sa.Text, **text_default),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    for table in ("processed_events", "brands", "job_events", "jobs", "posts"):
        op.drop_table(table, schema=schema)
