"""Media store: what the conformed deliverable is, and what the provider rendered before it was conformed.

Revision ID: media_0003
Revises: media_0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "media_0003"
down_revision: str | None = "media_0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

COLUMNS = (
    ("fps", sa.Float),
    ("bitrate", sa.BigInteger),
    ("has_audio", sa.Boolean),
    ("source_width", sa.Integer),
    ("source_height", sa.Integer),
    ("source_fps", sa.Float),
    ("original_object_key", sa.Text),
)


def upgrade(schema: str) -> None:
    for name, kind in COLUMNS:
        op.add_column("media", sa.Column(name, kind), schema=schema)


def downgrade(schema: str) -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("media", name, schema=schema)
