"""Dispatcher: outbound webhooks — endpoints, a transactional outbox of events, deliveries and their attempts.

- `webhook_endpoints`: a tenant's URLs, the event types each wants (empty: all), the signing secret encrypted at rest
  (and the previous one while a rotation overlaps), whether it is enabled and since when it has been failing.
- `webhook_events` (the outbox): triggers on `jobs` and `posts` write one row per job status change, job progress
  change and post status change, in the transaction that makes the change, for tenants that have an enabled
  endpoint; each row keeps a snapshot of the changed row. A job's pending `job.progress` row is updated in place (so
  progress coalesces to the newest), and a terminal status drops it. Every insert sends `NOTIFY svd_webhooks`.
- `webhook_deliveries`: one per event and endpoint (its id is the `webhook-id` header), with the body rendered once,
  its status, the next attempt's time and the lease of an attempt in flight.
- `webhook_attempts`: every attempt, with its HTTP status, latency, error and the start of the answer.

Revision ID: dispatcher_0005
Revises: dispatcher_0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "dispatcher_0005"
down_revision: str | None = "dispatcher_0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade(schema: str) -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("disabled_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("previous_secret", sa.LargeBinary),
        sa.Column("previous_secret_expires_at", TZ),
        sa.Column("failing_since", TZ),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("webhook_endpoints_by_tenant", "webhook_endpoints", ["tenant_id", "created_at"], schema=schema)
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("snapshot", postgresql.JSONB, nullable=False),
        # Set for an event meant for one endpoint only (a test).
        sa.Column("endpoint_id", sa.String(64)),
        sa.Column("available_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("fanned_at", TZ),
        schema=schema,
    )
    op.create_index(
        "webhook_events_due",
        "webhook_events",
        ["available_at", "event_id"],
        schema=schema,
        postgresql_where=sa.text("fanned_at IS NULL"),
    )
    op.create_index(
        "webhook_events_progress",
        "webhook_events",
        ["job_id", "fanned_at"],
        schema=schema,
        postgresql_where=sa.text("type = 'job.progress'"),
    )
    op.create_index("webhook_events_by_time", "webhook_events", ["occurred_at"], schema=schema)
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column(
            "endpoint_id",
            sa.String(64),
            sa.ForeignKey(f"{schema}.webhook_endpoints.endpoint_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False, server_default=""),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        # Attempts since the delivery was (re)queued: the position in the retry schedule.
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("leased_until", TZ),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index(
        "webhook_deliveries_due",
        "webhook_deliveries",
        ["endpoint_id", "next_attempt_at"],
        schema=schema,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "webhook_deliveries_by_tenant", "webhook_deliveries", ["tenant_id", "created_at", "delivery_id"], schema=schema
    )
    op.create_index("webhook_deliveries_by_job", "webhook_deliveries", ["job_id"], schema=schema)
    op.create_index(
        "webhook_deliveries_ended",
        "webhook_deliveries",
        ["updated_at"],
        schema=schema,
        postgresql_where=sa.text("status <> 'pending'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("attempt_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.String(64),
            sa.ForeignKey(f"{schema}.webhook_deliveries.delivery_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("response_excerpt", sa.Text, nullable=False, server_default=""),
        schema=schema,
    )
    op.create_index("webhook_attempts_by_delivery", "webhook_attempts", ["delivery_id", "number"], schema=schema)
    op.execute(
        f"""
        CREATE FUNCTION "{schema}".webhook_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM "{schema}".webhook_endpoints WHERE tenant_id = NEW.tenant_id AND enabled) THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
                IF NEW.status IN ('succeeded', 'failed', 'cancelled') THEN
                    DELETE FROM "{schema}".webhook_events
                    WHERE job_id = NEW.job_id AND type = 'job.progress' AND fanned_at IS NULL;
                END IF;
                INSERT INTO "{schema}".webhook_events (tenant_id, job_id, type, occurred_at, snapshot)
                VALUES (NEW.tenant_id, NEW.job_id, 'job.' || NEW.status, clock_timestamp(), to_jsonb(NEW));
            ELSIF NEW.status = 'running' AND (OLD.step, OLD.progress) IS DISTINCT FROM (NEW.step, NEW.progress) THEN
                UPDATE "{schema}".webhook_events SET snapshot = to_jsonb(NEW), occurred_at = clock_timestamp()
                WHERE job_id = NEW.job_id AND type = 'job.progress' AND fanned_at IS NULL;
                IF FOUND THEN
                    RETURN NULL;
                END IF;
                INSERT INTO "{schema}".webhook_events (tenant_id, job_id, type, occurred_at, snapshot)
                VALUES (NEW.tenant_id, NEW.job_id, 'job.progress', clock_timestamp(), to_jsonb(NEW));
            ELSE
                RETURN NULL;
            END IF;
            PERFORM pg_notify('svd_webhooks', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER webhook_job_events AFTER INSERT OR UPDATE OF status, step, progress ON "{schema}".jobs
        FOR EACH ROW EXECUTE FUNCTION "{schema}".webhook_job_event()
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION "{schema}".webhook_post_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.deliverable_status = NEW.deliverable_status THEN
                RETURN NULL;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM "{schema}".webhook_endpoints WHERE tenant_id = NEW.tenant_id AND enabled) THEN
                RETURN NULL;
            END IF;
            INSERT INTO "{schema}".webhook_events (tenant_id, job_id, type, occurred_at, snapshot)
            VALUES (NEW.tenant_id, COALESCE(NEW.current_job_id, ''), 'post.status_changed', clock_timestamp(),
                    to_jsonb(NEW));
            PERFORM pg_notify('svd_webhooks', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER webhook_post_events AFTER INSERT OR UPDATE OF status, deliverable_status ON "{schema}".posts
        FOR EACH ROW EXECUTE FUNCTION "{schema}".webhook_post_event()
        """
    )


def downgrade(schema: str) -> None:
    op.execute(f'DROP TRIGGER webhook_post_events ON "{schema}".posts')
    op.execute(f'DROP FUNCTION "{schema}".webhook_post_event()')
    op.execute(f'DROP TRIGGER webhook_job_events ON "{schema}".jobs')
    op.execute(f'DROP FUNCTION "{schema}".webhook_job_event()')
    op.drop_table("webhook_attempts", schema=schema)
    op.drop_table("webhook_deliveries", schema=schema)
    op.drop_table("webhook_events", schema=schema)
    op.drop_table("webhook_endpoints", schema=schema)
