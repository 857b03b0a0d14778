"""Media store: a per-run lease on the video record, the reason of a failed run, and keyset paging indexes.

The lease (`lease_owner`, `lease_until`) says which worker is storing a job run right now, so a redelivery while it
is alive waits instead of aborting its upload. `failure_reason` lets a redelivery of a failed run repeat the same
`video.failed`. Records made public by earlier versions are privatised at start-up (`public_url` is their marker).

Revision ID: media_0002
Revises: media_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "media_0002"
down_revision: str | None = "media_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column("media", sa.Column("lease_owner", sa.String(64)), schema=schema)
    op.add_column("media", sa.Column("lease_until", sa.DateTime(timezone=True)), schema=schema)
    op.add_column("media", sa.Column("failure_reason", sa.Text), schema=schema)
    # ListMedia pages in (created_at, media_id) order, per tenant (and per post through media_by_post's tenant).
    op.create_index("media_by_tenant_page", "media", ["tenant_id", "created_at", "media_id"], schema=schema)
    # The sweeps: unfinished runs, and objects earlier versions stored public.
    op.create_index(
        "media_unfinished",
        "media",
        ["updated_at"],
        schema=schema,
        postgresql_where=sa.text("state = 'uploading'"),
    )
    op.create_index(
        "media_legacy_public",
        "media",
        ["media_id"],
        schema=schema,
        postgresql_where=sa.text("public_url <> ''"),
    )


def downgrade(schema: str) -> None:
    op.drop_index("media_legacy_public", "media", schema=schema)
    op.drop_index("media_unfinished", "media", schema=schema)
    op.drop_index("media_by_tenant_page", "media", schema=schema)
    op.drop_column("media", "failure_reason", schema=schema)
    op.drop_column("media", "lease_until", schema=schema)
    op.drop_column("media", "lease_owner", schema=schema)
