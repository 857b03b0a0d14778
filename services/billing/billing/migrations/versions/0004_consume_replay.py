"""Billing: a replayed consume must name the first amount, and the consume entry records the true `held_after`.

`consume` (migration 0002) answered `same` to any consume of an already consumed hold, whatever its amount, so a
caller could "consume" 1 credit of a hold consumed for 15 and believe it had paid 1. It now answers `same` only for
the amount first consumed and `mismatch` (nothing changed) for any other. Its ledger entry wrote
`held_after = held - amount consumed`, but the hold's whole amount leaves `held` in the same statement (the
remainder is released with it), so the entry now says `held - hold amount`, as the account does. Rates must be at
least 1 credit: a free rate could be neither reserved nor consumed.

Revision ID: billing_0004
Revises: billing_0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "billing_0004"
down_revision: str | None = "billing_0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

RESULT = """o_outcome text, o_reservation_id text, o_tenant_id text, o_credit_type text, o_amount bigint,
    o_state text, o_job_id text, o_consumed bigint, o_reason text, o_created_at timestamptz,
    o_expires_at timestamptz, o_balance bigint, o_held bigint"""

HOLD_COLUMNS = """h.reservation_id::text, h.tenant_id::text, h.credit_type::text, h.amount, h.state::text,
    h.job_id::text, h.consumed_amount, h.reason, h.created_at, h.expires_at"""

NO_HOLD = "NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::bigint, NULL::text, " + (
    "NULL::timestamptz, NULL::timestamptz"
)

# The replay answers (0002's, then this revision's).
SAME_WHATEVER_AMOUNT = "'same'"
SAME_ONLY_FOR_FIRST_AMOUNT = "CASE WHEN p_amount = h.consumed_amount THEN 'same' ELSE 'mismatch' END"
# The consume entry's held_after (0002's, then this revision's).
HELD_MINUS_CONSUMED = "a.held - p_amount"
HELD_MINUS_HOLD = "a.held - h.amount"


def _consume(s: str, replay: str, held_after: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {s}.consume(p_reservation text, p_amount bigint, p_tenant text)
RETURNS TABLE ({RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  hk record;
  a record;
  h {s}.holds%ROWTYPE;
  remainder bigint;
BEGIN
  SELECT k.tenant_id, k.credit_type INTO hk FROM {s}.holds k WHERE k.reservation_id = p_reservation;
  IF NOT FOUND OR (p_tenant IS NOT NULL AND hk.tenant_id <> p_tenant) THEN
    RETURN QUERY SELECT 'not_found', {NO_HOLD}, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;
  SELECT ac.balance, ac.held INTO a FROM {s}.accounts ac
   WHERE ac.tenant_id = hk.tenant_id AND ac.credit_type = hk.credit_type FOR UPDATE;
  SELECT * INTO h FROM {s}.holds k WHERE k.reservation_id = p_reservation;
  IF h.state = 'consumed' THEN
    RETURN QUERY SELECT {replay}, {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  ELSIF h.state <> 'held' THEN
    RETURN QUERY SELECT 'conflict', {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  ELSIF p_amount < 1 OR p_amount > h.amount THEN
    RETURN QUERY SELECT 'invalid', {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  END IF;
  remainder := h.amount - p_amount;
  UPDATE {s}.holds k SET state = 'consumed', consumed_amount = p_amount, resolved_at = now(),
         reason = CASE WHEN remainder > 0 THEN 'remainder ' || remainder || ' released' ELSE '' END
   WHERE k.reservation_id = p_reservation
  RETURNING * INTO h;
  UPDATE {s}.accounts ac SET balance = a.balance - p_amount, held = a.held - h.amount, updated_at = now()
   WHERE ac.tenant_id = h.tenant_id AND ac.credit_type = h.credit_type;
  INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id, job_id)
  VALUES (h.tenant_id, h.credit_type, 'consume', p_amount, a.balance - p_amount, {held_after},
          p_reservation, h.job_id);
  IF remainder > 0 THEN
    INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id,
                            job_id, reason)
    VALUES (h.tenant_id, h.credit_type, 'release', remainder, a.balance - p_amount, a.held - h.amount,
            p_reservation, h.job_id, 'remainder of consume');
  END IF;
  RETURN QUERY SELECT 'ok', {HOLD_COLUMNS}, a.balance - p_amount, a.held - h.amount;
END $$"""


def upgrade(schema: str) -> None:
    # `apply_batch` (0003) calls consume by name, so replacing it in place changes batched consumes too.
    op.execute(_consume(schema, SAME_ONLY_FOR_FIRST_AMOUNT, HELD_MINUS_HOLD))
    op.create_check_constraint("rate_at_least_one", "rates", "amount >= 1", schema=schema)


def downgrade(schema: str) -> None:
    op.drop_constraint("rate_at_least_one", "rates", schema=schema)
    op.execute(_consume(schema, SAME_WHATEVER_AMOUNT, HELD_MINUS_CONSUMED))
