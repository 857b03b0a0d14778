"""Billing's tables (schema `billing`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, func

SCHEMA = "billing"
metadata = MetaData(schema=SCHEMA)

accounts = Table(
    "accounts",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("credit_type", String(64), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

holds = Table(
    "holds",
    metadata,
    Column("reservation_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("credit_type", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("job_id", String(128), nullable=False, server_default=""),
    Column("idempotency_key", String(256), nullable=False),
    Column("consumed_amount", BigInteger, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

ledger = Table(
    "ledger",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", String(128), nullable=False),
    Column("credit_type", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("held_after", BigInteger, nullable=False),
    Column("reservation_id", String(64)),
    Column("job_id", String(128), nullable=False, server_default=""),
    Column("idempotency_key", String(256)),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

rates = Table(
    "rates",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("duration_seconds", Integer, primary_key=True),
    Column("credit_type", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
)
