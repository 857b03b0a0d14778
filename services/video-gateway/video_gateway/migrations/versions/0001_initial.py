"""Video gateway: submissions.

Revision ID: video_gateway_0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.create_table(
        "submissions",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("provider_job_id", sa.String(128), nullable=False),
        sa.Column("motion_prompt", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("submissions", schema=schema)
