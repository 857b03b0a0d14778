"""Dispatcher: every job has a deadline, and the sweeper finds the active ones past it through a partial index.

Revision ID: dispatcher_0002
Revises: dispatcher_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dispatcher_0002"
down_revision: str | None = "dispatcher_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column("jobs", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    # Jobs from before deadlines existed get the default one (an hour after they were created).
    op.execute(f"UPDATE \"{schema}\".jobs SET deadline_at = created_at + interval '1 hour'")
    op.alter_column("jobs", "deadline_at", nullable=False, schema=schema)
    op.create_index(
        "jobs_active_by_deadline",
        "jobs",
        ["deadline_at"],
        schema=schema,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade(schema: str) -> None:
    op.drop_index("jobs_active_by_deadline", "jobs", schema=schema)
    op.drop_column("jobs", "deadline_at", schema=schema)
