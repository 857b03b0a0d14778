"""Dispatcher: fair admission. Jobs wait `queued` until a slot is free; per-tenant counters and turns pick the next.

- `jobs.admitted_at` (when the job entered the paid pipeline), `jobs.started_at` (when its design request was
  published: an admitted job without it is resumed), `jobs.credits_needed` (the quote at approval, so what a
  tenant's waiting jobs will need is one sum) and `jobs.label` (what its progress bar says now).
- `admission_tenants`: per tenant, how many jobs are queued and running, kept by a trigger on every status change of
  `jobs` (so no code path can forget it), and `last_turn`, the admission sequence number of its latest admission: the
  tenant with the oldest turn goes next (round-robin).
- The same trigger sends `NOTIFY svd_admission, '<tenant_id>'` on every status change of an active job: a job ending
  frees its slot at once, a queued job that moves wakes the streams watching its position.
- Partial indexes serve the queue (oldest first per tenant), the running jobs per tenant and the admitted jobs that
  never started.

Revision ID: dispatcher_0008
Revises: dispatcher_0007
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dispatcher_0008"
down_revision: str | None = "dispatcher_0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.add_column("jobs", sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.add_column("jobs", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.add_column("jobs", sa.Column("credits_needed", sa.BigInteger, nullable=False, server_default="0"), schema=schema)
    op.add_column("jobs", sa.Column("label", sa.Text, nullable=False, server_default=""), schema=schema)
    # Jobs from before admission existed were admitted and started when they were created.
    op.execute(
        f"UPDATE \"{schema}\".jobs SET admitted_at = created_at, started_at = created_at WHERE status <> 'queued'"
    )
    op.create_table(
        "admission_tenants",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("queued", sa.Integer, nullable=False, server_default="0"),
        sa.Column("running", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_turn", sa.BigInteger, nullable=True),
        schema=schema,
    )
    op.execute(f'CREATE SEQUENCE "{schema}".admission_turns')
    op.execute(
        f"""
        INSERT INTO "{schema}".admission_tenants (tenant_id, queued, running)
        SELECT tenant_id, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running')
        FROM "{schema}".jobs WHERE status IN ('queued', 'running') GROUP BY tenant_id
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION "{schema}".admission_count() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('queued', 'running') THEN
                UPDATE "{schema}".admission_tenants
                SET queued = queued - (OLD.status = 'queued')::int, running = running - (OLD.status = 'running')::int
                WHERE tenant_id = OLD.tenant_id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('queued', 'running') THEN
                INSERT INTO "{schema}".admission_tenants AS t (tenant_id, queued, running)
                VALUES (NEW.tenant_id, (NEW.status = 'queued')::int, (NEW.status = 'running')::int)
                ON CONFLICT (tenant_id) DO UPDATE
                SET queued = t.queued + EXCLUDED.queued, running = t.running + EXCLUDED.running;
            END IF;
            IF (TG_OP <> 'INSERT' AND OLD.status IN ('queued', 'running'))
                OR (TG_OP <> 'DELETE' AND NEW.status IN ('queued', 'running')) THEN
                PERFORM pg_notify('svd_admission', COALESCE(NEW.tenant_id, OLD.tenant_id));
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER jobs_admission_count AFTER INSERT OR DELETE OR UPDATE OF status ON "{schema}".jobs
        FOR EACH ROW EXECUTE FUNCTION "{schema}".admission_count()
        """
    )
    op.create_index(
        "jobs_queued_by_tenant",
        "jobs",
        ["tenant_id", "created_at", "job_id"],
        schema=schema,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "jobs_running_by_tenant",
        "jobs",
        ["tenant_id"],
        schema=schema,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "jobs_admitted_unstarted",
        "jobs",
        ["admitted_at"],
        schema=schema,
        postgresql_where=sa.text("status = 'running' AND started_at IS NULL"),
    )


def downgrade(schema: str) -> None:
    op.drop_index("jobs_admitted_unstarted", "jobs", schema=schema)
    op.drop_index("jobs_running_by_tenant", "jobs", schema=schema)
    op.drop_index("jobs_queued_by_tenant", "jobs", schema=schema)
    op.execute(f'DROP TRIGGER jobs_admission_count ON "{schema}".jobs')
    op.execute(f'DROP FUNCTION "{schema}".admission_count()')
    op.execute(f'DROP SEQUENCE "{schema}".admission_turns')
    op.drop_table("admission_tenants", schema=schema)
    for column in ("label", "credits_needed", "started_at", "admitted_at"):
        op.drop_column("jobs", column, schema=schema)
