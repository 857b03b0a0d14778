"""The webhook tables (schema `dispatcher`, migration 0005): endpoints, the event outbox, deliveries, attempts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from dispatcher.models import SCHEMA, metadata

endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("disabled_reason", Text, nullable=False, server_default=""),
    Column("secret", LargeBinary, nullable=False),
    Column("previous_secret", LargeBinary),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

events = Table(
    "webhook_events",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", String(128), nullable=False),
    Column("job_id", String(64), nullable=False, server_default=""),
    Column("type", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("snapshot", JSONB, nullable=False),
    Column("endpoint_id", String(64)),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("fanned_at", DateTime(timezone=True)),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("event_id", BigInteger, nullable=False),
    Column("endpoint_id", String(64), ForeignKey(f"{SCHEMA}.webhook_endpoints.endpoint_id"), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("job_id", String(64), nullable=False, server_default=""),
    Column("event_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("trace_id", String(32), nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("leased_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

attempts = Table(
    "webhook_attempts",
    metadata,
    Column("attempt_id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), ForeignKey(f"{SCHEMA}.webhook_deliveries.delivery_id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("http_status", Integer, nullable=False, server_default="0"),
    Column("latency_s", Float, nullable=False, server_default="0"),
    Column("error", Text, nullable=False, server_default=""),
    Column("response_excerpt", Text, nullable=False, server_default=""),
)
