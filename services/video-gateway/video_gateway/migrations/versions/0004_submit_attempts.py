"""Video gateway: submit attempts recorded before the call, the claim holder's token, the submitting key.

Revision ID: video_gateway_0004
Revises: video_gateway_0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0004"
down_revision: str | None = "video_gateway_0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    # Nullable, no default: a metadata-only change however large the table is. Rows without a key (submitted before
    # this revision) are checked with any pool key, as they were.
    op.add_column("submissions", sa.Column("key_id", sa.Integer), schema=schema)
    op.add_column("submissions", sa.Column("claim_token", sa.String(36)), schema=schema)
    op.add_column("submissions", sa.Column("attempt_id", sa.String(36)), schema=schema)
    op.add_column("submissions", sa.Column("attempt_at", sa.DateTime(timezone=True)), schema=schema)


def downgrade(schema: str) -> None:
    for column in ("attempt_at", "attempt_id", "claim_token", "key_id"):
        op.drop_column("submissions", column, schema=schema)
