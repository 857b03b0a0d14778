"""Video gateway: when the provider started the task (first seen out of its queue); the poll window counts from it.

Revision ID: video_gateway_0006
Revises: video_gateway_0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0006"
down_revision: str | None = "video_gateway_0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    # Nullable, no default: a metadata-only change. Runs polling before this revision count from their submission
    # until their next check sees them started.
    op.add_column("submissions", sa.Column("started_at", sa.DateTime(timezone=True)), schema=schema)


def downgrade(schema: str) -> None:
    op.drop_column("submissions", "started_at", schema=schema)
