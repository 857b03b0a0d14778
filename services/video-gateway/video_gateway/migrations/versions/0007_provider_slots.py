"""Video gateway: the runs in flight per provider, counted before each capped submit (`RUNWAY_MAX_IN_FLIGHT`…).

Revision ID: video_gateway_0007
Revises: video_gateway_0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "video_gateway_0007"
down_revision: str | None = "video_gateway_0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    # Partial: only active runs, a handful next to the ended ones that accumulate.
    op.create_index(
        "submissions_in_flight_by_provider",
        "submissions",
        ["provider"],
        schema=schema,
        postgresql_where=sa.text("state IN ('submitting', 'polling')"),
    )


def downgrade(schema: str) -> None:
    op.drop_index("submissions_in_flight_by_provider", table_name="submissions", schema=schema)
