"""Media store: media records.

Revision ID: media_0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "media_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.create_table(
        "media",
        sa.Column("media_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("social_post_id", sa.String(128)),
        sa.Column("original_social_post_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("mime_type", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("platform_format", sa.String(32), nullable=False),
        sa.Column("slide_index", sa.Integer),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("generated_by", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("object_key", sa.Text, nullable=False, unique=True),
        sa.Column("public_url", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("codec", sa.String(32)),
        sa.Column("provider", sa.String(16), nullable=False, server_default=""),
        sa.Column("parent_media_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("job_id", "run", "media_type", name="one_media_per_job_run"),
        schema=schema,
    )
    op.create_index("media_by_post", "media", ["tenant_id", "original_social_post_id"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_table("media", schema=schema)
