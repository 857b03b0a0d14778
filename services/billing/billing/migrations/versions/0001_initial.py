"""Billing: accounts, holds, ledger and rates.

Revision ID: billing_0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "billing_0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

SEED_RATES = [("runway", 5, 15), ("runway", 10, 25), ("kling", 5, 12), ("kling", 10, 22)]


def upgrade(schema: str) -> None:
    op.create_table(
        "accounts",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("credit_type", sa.String(64), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("held >= 0 AND held <= balance", name="available_never_negative"),
        schema=schema,
    )
    op.create_table(
        "holds",
        sa.Column("reservation_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("credit_type", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(256), nullable=False),
        sa.Column("consumed_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="holds_idempotency_key"),
        sa.CheckConstraint("amount > 0", name="hold_amount_positive"),
        schema=schema,
    )
    op.create_index(
        "holds_expiring", "holds", ["expires_at"], schema=schema, postgresql_where=sa.text("state = 'held'")
    )
    op.create_table(
        "ledger",
        sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("credit_type", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("held_after", sa.BigInteger, nullable=False),
        sa.Column("reservation_id", sa.String(64)),
        sa.Column("job_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(256)),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("ledger_by_tenant_time", "ledger", ["tenant_id", "credit_type", "entry_id"], schema=schema)
    op.create_index(
        "ledger_grant_idempotency",
        "ledger",
        ["tenant_id", "idempotency_key"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("kind = 'grant'"),
    )
    rates = op.create_table(
        "rates",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("duration_seconds", sa.Integer, primary_key=True),
        sa.Column("credit_type", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        schema=schema,
    )
    op.bulk_insert(
        rates,
        [
            {"provider": p, "duration_seconds": d, "credit_type": "ai_video_generation", "amount": a}
            for p, d, a in SEED_RATES
        ],
    )


def downgrade(schema: str) -> None:
    for table in ("rates", "ledger", "holds", "accounts"):
        op.drop_table(table, schema=schema)
