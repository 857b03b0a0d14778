"""Video gateway: submission claim and poll state, the provider key pool, key usage.

Revision ID: video_gateway_0002
Revises: video_gateway_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0002"
down_revision: str | None = "video_gateway_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column(
        "submissions", sa.Column("state", sa.String(16), nullable=False, server_default="polling"), schema=schema
    )
    op.alter_column("submissions", "provider", nullable=True, schema=schema)
    op.alter_column("submissions", "provider_job_id", nullable=True, schema=schema)
    op.alter_column("submissions", "submitted_at", nullable=True, server_default=None, schema=schema)
    op.alter_column("submissions", "motion_prompt", server_default="", schema=schema)
    op.add_column("submissions", sa.Column("claimed_at", sa.DateTime(timezone=True)), schema=schema)
    op.add_column("submissions", sa.Column("checks", sa.Integer, nullable=False, server_default="0"), schema=schema)
    op.add_column("submissions", sa.Column("last_check_at", sa.DateTime(timezone=True)), schema=schema)
    op.add_column("submissions", sa.Column("finished_at", sa.DateTime(timezone=True)), schema=schema)
    op.add_column("submissions", sa.Column("reason", sa.Text, nullable=False, server_default=""), schema=schema)
    op.create_table(
        "provider_keys",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="valid"),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("cooldown_until", sa.DateTime(timezone=True)),
        sa.Column("lease_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("invalid_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("provider", "fingerprint"),
        schema=schema,
    )
    op.create_index("provider_keys_lru", "provider_keys", ["provider", "status", "last_used_at"], schema=schema)
    op.create_table(
        "key_usage",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("http_status", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("job_id", sa.String(64), nullable=False, server_default=""),
        schema=schema,
    )
    op.create_index("key_usage_by_key", "key_usage", ["key_id", "at"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_table("key_usage", schema=schema)
    op.drop_table("provider_keys", schema=schema)
    for column in ("reason", "finished_at", "last_check_at", "checks", "claimed_at", "state"):
        op.drop_column("submissions", column, schema=schema)
