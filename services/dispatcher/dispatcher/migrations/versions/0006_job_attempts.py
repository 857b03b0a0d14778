"""Dispatcher: a failed job can be retried (`RetryJob`); each retry is a new attempt of the job, counted here.

Revision ID: dispatcher_0006
Revises: dispatcher_0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dispatcher_0006"
down_revision: str | None = "dispatcher_0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column("jobs", sa.Column("attempt", sa.Integer, nullable=False, server_default="1"), schema=schema)


def downgrade(schema: str) -> None:
    op.drop_column("jobs", "attempt", schema=schema)
