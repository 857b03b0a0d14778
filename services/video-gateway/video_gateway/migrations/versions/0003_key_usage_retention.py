"""Video gateway: a BRIN index on `key_usage.at`, so usage past its retention is found without a scan.

Usage rows arrive in time order (one per provider call, hundreds a second at scale), which is what a BRIN index
summarises well: a few pages instead of a B-tree the size of the table.

Revision ID: video_gateway_0003
Revises: video_gateway_0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "video_gateway_0003"
down_revision: str | None = "video_gateway_0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.create_index("key_usage_at_brin", "key_usage", ["at"], schema=schema, postgresql_using="brin")


def downgrade(schema: str) -> None:
    op.drop_index("key_usage_at_brin", table_name="key_usage", schema=schema)
