"""The `svd_auth.api_keys` table: one row per issued key; the key itself is never stored, only its digest."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, Text, func

SCHEMA = "svd_auth"
metadata = MetaData(schema=SCHEMA)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("tenant_id", String(128)),
    Column("is_admin", Boolean, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)
