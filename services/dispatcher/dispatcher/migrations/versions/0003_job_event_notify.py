"""Dispatcher: a job event wakes the job's WatchJob streams (NOTIFY), and admin listings have an index.

Every row inserted into `job_events` sends `NOTIFY svd_job_events, '<job_id>'` (delivered when the writing
transaction commits, and collapsed when one transaction logs several events of one job), so streams wait for changes
instead of polling. `jobs_by_created` serves ListJobs without a tenant (admin keys): newest first, paged on
`(created_at, job_id)`, without scanning and sorting every job.

Revision ID: dispatcher_0003
Revises: dispatcher_0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "dispatcher_0003"
down_revision: str | None = "dispatcher_0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    op.execute(
        f"""
        CREATE FUNCTION "{schema}".notify_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('svd_job_events', NEW.job_id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER job_events_notify AFTER INSERT ON "{schema}".job_events
        FOR EACH ROW EXECUTE FUNCTION "{schema}".notify_job_event()
        """
    )
    op.create_index("jobs_by_created", "jobs", ["created_at", "job_id"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_index("jobs_by_created", "jobs", schema=schema)
    op.execute(f'DROP TRIGGER job_events_notify ON "{schema}".job_events')
    op.execute(f'DROP FUNCTION "{schema}".notify_job_event()')
