"""Dispatcher: the record of operator actions (dead letters replayed or purged, jobs retried), who did each (the
API key's id) and, for actions taken once per client request, the request that did it.

Revision ID: dispatcher_0004
Revises: dispatcher_0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "dispatcher_0004"
down_revision: str | None = "dispatcher_0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.create_table(
        "operator_actions",
        sa.Column("action_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("request_key", sa.String(300), unique=True),
        sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=schema,
    )
    op.create_index("operator_actions_by_time", "operator_actions", ["time"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_table("operator_actions", schema=schema)
