"""Video gateway: a submission keeps the still and overlay its task animates, so a retried job can resume the task
under a new run (no new submit) and still hand media-store what to store beside the video.

Revision ID: video_gateway_0005
Revises: video_gateway_0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0005"
down_revision: str | None = "video_gateway_0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column("submissions", sa.Column("still_key", sa.Text, nullable=False, server_default=""), schema=schema)
    op.add_column("submissions", sa.Column("overlay_key", sa.Text, nullable=False, server_default=""), schema=schema)
    # The run a resumed submission took its task from (0: it submitted the task itself).
    op.add_column(
        "submissions", sa.Column("resumed_from_run", sa.Integer, nullable=False, server_default="0"), schema=schema
    )


def downgrade(schema: str) -> None:
    for column in ("resumed_from_run", "overlay_key", "still_key"):
        op.drop_column("submissions", column, schema=schema)
