"""Dispatcher: a job records its provider's money cost, estimated before the paid call and actual at completion.

Revision ID: dispatcher_0007
Revises: dispatcher_0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dispatcher_0007"
down_revision: str | None = "dispatcher_0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    # Nullable, no default: a metadata-only change; NULL is "not known" (no price, or jobs before this revision).
    op.add_column("jobs", sa.Column("estimated_cost_usd", sa.Numeric(12, 4)), schema=schema)
    op.add_column("jobs", sa.Column("actual_cost_usd", sa.Numeric(12, 4)), schema=schema)


def downgrade(schema: str) -> None:
    for column in ("actual_cost_usd", "estimated_cost_usd"):
        op.drop_column("jobs", column, schema=schema)
