"""Billing: `apply_batch`, many holds / consumes / releases in one transaction (group commit).

The service gathers the movements that arrive while a batch is in flight and sends them together: one round trip,
one commit (one WAL flush) and one lock acquisition per account for the whole batch. Each movement is still the
single-movement function of migration 0002, applied in arrival order, so its outcome is exactly what it would have
been alone. The accounts a batch touches are locked up front in (tenant, credit type) order, so batches from several
replicas never deadlock; single-movement functions lock one account only.

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "billing_0003"
down_revision: str | None = "billing_0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade(schema: str) -> None:
    s = schema
    result = """o_index int, o_outcome text, o_reservation_id text, o_tenant_id text, o_credit_type text,
    o_amount bigint, o_state text, o_job_id text, o_consumed bigint, o_reason text, o_created_at timestamptz,
    o_expires_at timestamptz, o_balance bigint, o_held bigint"""
    op.execute(f"""
CREATE FUNCTION {s}.apply_batch(p_kind text[], p_ref text[], p_type text[], p_amount bigint[], p_text text[],
                                p_job text[], p_ttl int[], p_tenant text[])
RETURNS TABLE ({result}) LANGUAGE plpgsql AS $$
-- p_kind[i]: 'reserve' (p_ref = tenant, p_type, p_amount, p_text = idempotency key, p_job, p_ttl),
--            'consume' (p_ref = reservation, p_amount, p_tenant = the caller's tenant or NULL),
--            'release' (p_ref = reservation, p_text = reason, p_tenant).
DECLARE
  i int;
BEGIN
  INSERT INTO {s}.accounts AS ac (tenant_id, credit_type, balance, held)
  SELECT DISTINCT u.r, u.t, 0::bigint, 0::bigint FROM unnest(p_kind, p_ref, p_type) AS u(k, r, t)
   WHERE u.k = 'reserve' ORDER BY 1, 2
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM {s}.accounts ac
   WHERE (ac.tenant_id, ac.credit_type) IN (
     SELECT u.r, u.t FROM unnest(p_kind, p_ref, p_type) AS u(k, r, t) WHERE u.k = 'reserve'
     UNION
     SELECT h.tenant_id, h.credit_type FROM {s}.holds h
      WHERE h.reservation_id IN (SELECT u.r FROM unnest(p_kind, p_ref) AS u(k, r) WHERE u.k <> 'reserve'))
   ORDER BY ac.tenant_id, ac.credit_type
   FOR UPDATE;
  FOR i IN 1 .. coalesce(array_length(p_kind, 1), 0) LOOP
    IF p_kind[i] = 'reserve' THEN
      RETURN QUERY SELECT i, r.* FROM {s}.reserve(p_ref[i], p_type[i], p_amount[i], p_text[i], p_job[i], p_ttl[i]) r;
    ELSIF p_kind[i] = 'consume' THEN
      RETURN QUERY SELECT i, r.* FROM {s}.consume(p_ref[i], p_amount[i], p_tenant[i]) r;
    ELSIF p_kind[i] = 'release' THEN
      RETURN QUERY SELECT i, r.* FROM {s}.release(p_ref[i], p_text[i], p_tenant[i]) r;
    ELSE
      RAISE EXCEPTION 'unknown movement %', p_kind[i];
    END IF;
  END LOOP;
END $$""")


def downgrade(schema: str) -> None:
    op.execute(f"DROP FUNCTION {schema}.apply_batch(text[], text[], text[], bigint[], text[], text[], int[], text[])")
