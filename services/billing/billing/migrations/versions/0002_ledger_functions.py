"""Billing: every credit movement as one server-side function (one round trip, one transaction each).

Each function locks the account row first (`FOR UPDATE`), then reads the hold fresh, so concurrent calls on one
account are serialised and the lock order is always account → hold (no deadlocks). Functions return an outcome
instead of raising, and the service turns outcomes into domain errors:

- `ok`: the movement happened; `same`: an idempotent replay, the row is the first outcome (or the final state);
- `insufficient`: not enough available credits (the balance and held columns say how many there are);
- `conflict`: the hold is resolved another way (consume after release, or the reverse); nothing changed;
- `invalid`: the amount is out of range for this hold; `not_found`: no such hold for this caller.

Also: the ledger becomes append-only (a trigger refuses UPDATE and DELETE), a hold can be resolved at most once
(unique `(reservation_id, kind)` entries), rates record when they were changed, and a `local` rate is seeded.

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "billing_0002"
down_revision: str | None = "billing_0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# One result shape for reserve / consume / release: the outcome, the hold, and the account afterwards.
RESULT = """o_outcome text, o_reservation_id text, o_tenant_id text, o_credit_type text, o_amount bigint,
    o_state text, o_job_id text, o_consumed bigint, o_reason text, o_created_at timestamptz,
    o_expires_at timestamptz, o_balance bigint, o_held bigint"""

HOLD_COLUMNS = """h.reservation_id::text, h.tenant_id::text, h.credit_type::text, h.amount, h.state::text,
    h.job_id::text, h.consumed_amount, h.reason, h.created_at, h.expires_at"""

NO_HOLD = "NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::bigint, NULL::text, " + (
    "NULL::timestamptz, NULL::timestamptz"
)


def _functions(s: str) -> list[str]:
    lock_account = f"""
    SELECT ac.balance, ac.held INTO a FROM {s}.accounts ac
     WHERE ac.tenant_id = p_tenant AND ac.credit_type = p_type FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO {s}.accounts AS ac (tenant_id, credit_type, balance, held) VALUES (p_tenant, p_type, 0, 0)
        ON CONFLICT DO NOTHING;
      SELECT ac.balance, ac.held INTO a FROM {s}.accounts ac
       WHERE ac.tenant_id = p_tenant AND ac.credit_type = p_type FOR UPDATE;
    END IF;"""
    lock_hold = f"""
    SELECT k.tenant_id, k.credit_type INTO hk FROM {s}.holds k WHERE k.reservation_id = p_reservation;
    IF NOT FOUND OR (p_tenant IS NOT NULL AND hk.tenant_id <> p_tenant) THEN
      RETURN QUERY SELECT 'not_found', {NO_HOLD}, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    SELECT ac.balance, ac.held INTO a FROM {s}.accounts ac
     WHERE ac.tenant_id = hk.tenant_id AND ac.credit_type = hk.credit_type FOR UPDATE;
    SELECT * INTO h FROM {s}.holds k WHERE k.reservation_id = p_reservation;"""
    return [
        f"""
CREATE FUNCTION {s}.reserve(p_tenant text, p_type text, p_amount bigint, p_key text, p_job text, p_ttl_s int)
RETURNS TABLE ({RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  a record;
  h {s}.holds%ROWTYPE;
BEGIN
  {lock_account}
  SELECT * INTO h FROM {s}.holds k WHERE k.tenant_id = p_tenant AND k.idempotency_key = p_key;
  IF FOUND THEN
    RETURN QUERY SELECT 'same', {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  END IF;
  IF a.balance - a.held < p_amount THEN
    RETURN QUERY SELECT 'insufficient', {NO_HOLD}, a.balance, a.held;
    RETURN;
  END IF;
  INSERT INTO {s}.holds (reservation_id, tenant_id, credit_type, amount, state, job_id, idempotency_key,
                         created_at, expires_at)
  VALUES (gen_random_uuid()::text, p_tenant, p_type, p_amount, 'held', p_job, p_key,
          now(), now() + make_interval(secs => p_ttl_s))
  RETURNING * INTO h;
  UPDATE {s}.accounts ac SET held = a.held + p_amount, updated_at = now()
   WHERE ac.tenant_id = p_tenant AND ac.credit_type = p_type;
  INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id, job_id)
  VALUES (p_tenant, p_type, 'hold', p_amount, a.balance, a.held + p_amount, h.reservation_id, p_job);
  RETURN QUERY SELECT 'ok', {HOLD_COLUMNS}, a.balance, a.held + p_amount;
END $$""",
        f"""
CREATE FUNCTION {s}.consume(p_reservation text, p_amount bigint, p_tenant text)
RETURNS TABLE ({RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  hk record;
  a record;
  h {s}.holds%ROWTYPE;
  remainder bigint;
BEGIN
  {lock_hold}
  IF h.state = 'consumed' THEN
    RETURN QUERY SELECT 'same', {HOLD_COLUMNS}, a.balance, a.held;
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
  VALUES (h.tenant_id, h.credit_type, 'consume', p_amount, a.balance - p_amount, a.held - p_amount,
          p_reservation, h.job_id);
  IF remainder > 0 THEN
    INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id,
                            job_id, reason)
    VALUES (h.tenant_id, h.credit_type, 'release', remainder, a.balance - p_amount, a.held - h.amount,
            p_reservation, h.job_id, 'remainder of consume');
  END IF;
  RETURN QUERY SELECT 'ok', {HOLD_COLUMNS}, a.balance - p_amount, a.held - h.amount;
END $$""",
        f"""
CREATE FUNCTION {s}.release(p_reservation text, p_reason text, p_tenant text)
RETURNS TABLE ({RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  hk record;
  a record;
  h {s}.holds%ROWTYPE;
BEGIN
  {lock_hold}
  IF h.state IN ('released', 'expired') THEN
    RETURN QUERY SELECT 'same', {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  ELSIF h.state <> 'held' THEN
    RETURN QUERY SELECT 'conflict', {HOLD_COLUMNS}, a.balance, a.held;
    RETURN;
  END IF;
  UPDATE {s}.holds k SET state = 'released', resolved_at = now(), reason = p_reason
   WHERE k.reservation_id = p_reservation
  RETURNING * INTO h;
  UPDATE {s}.accounts ac SET held = a.held - h.amount, updated_at = now()
   WHERE ac.tenant_id = h.tenant_id AND ac.credit_type = h.credit_type;
  INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id,
                          job_id, reason)
  VALUES (h.tenant_id, h.credit_type, 'release', h.amount, a.balance, a.held - h.amount, p_reservation,
          h.job_id, p_reason);
  RETURN QUERY SELECT 'ok', {HOLD_COLUMNS}, a.balance, a.held - h.amount;
END $$""",
        f"""
CREATE FUNCTION {s}.grant_credits(p_tenant text, p_type text, p_amount bigint, p_key text, p_reason text)
RETURNS TABLE (o_outcome text, o_balance bigint, o_held bigint) LANGUAGE plpgsql AS $$
DECLARE
  a record;
BEGIN
  {lock_account}
  PERFORM 1 FROM {s}.ledger l WHERE l.tenant_id = p_tenant AND l.idempotency_key = p_key AND l.kind = 'grant';
  IF FOUND THEN
    RETURN QUERY SELECT 'same', a.balance, a.held;
    RETURN;
  END IF;
  UPDATE {s}.accounts ac SET balance = a.balance + p_amount, updated_at = now()
   WHERE ac.tenant_id = p_tenant AND ac.credit_type = p_type;
  INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, idempotency_key, reason)
  VALUES (p_tenant, p_type, 'grant', p_amount, a.balance + p_amount, a.held, p_key, p_reason);
  RETURN QUERY SELECT 'ok', a.balance + p_amount, a.held;
END $$""",
        # Expire the due holds of up to p_accounts accounts. Accounts locked by anyone else (another replica's
        # sweeper, a live reserve) are skipped, not waited for: replicas split the work and never deadlock.
        f"""
CREATE FUNCTION {s}.expire_due(p_accounts int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  acct record;
  h record;
  held_now bigint;
  expired int := 0;
BEGIN
  FOR acct IN
    SELECT ac.tenant_id, ac.credit_type, ac.balance, ac.held FROM {s}.accounts ac
     WHERE (ac.tenant_id, ac.credit_type) IN (
       SELECT DISTINCT d.tenant_id, d.credit_type FROM {s}.holds d
        WHERE d.state = 'held' AND d.expires_at <= now() LIMIT p_accounts)
     FOR UPDATE SKIP LOCKED
  LOOP
    held_now := acct.held;
    FOR h IN
      UPDATE {s}.holds k SET state = 'expired', resolved_at = now(), reason = 'hold expired after its TTL'
       WHERE k.tenant_id = acct.tenant_id AND k.credit_type = acct.credit_type
         AND k.state = 'held' AND k.expires_at <= now()
      RETURNING k.reservation_id, k.amount, k.job_id
    LOOP
      held_now := held_now - h.amount;
      INSERT INTO {s}.ledger (tenant_id, credit_type, kind, amount, balance_after, held_after, reservation_id,
                              job_id, reason)
      VALUES (acct.tenant_id, acct.credit_type, 'expire', h.amount, acct.balance, held_now, h.reservation_id,
              h.job_id, 'hold expired after its TTL');
      expired := expired + 1;
    END LOOP;
    UPDATE {s}.accounts ac SET held = held_now, updated_at = now()
     WHERE ac.tenant_id = acct.tenant_id AND ac.credit_type = acct.credit_type;
  END LOOP;
  RETURN expired;
END $$""",
        f"""
CREATE FUNCTION {s}.ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the billing ledger is append-only: % refused', TG_OP;
END $$""",
        f"""
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.ledger
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.ledger_is_append_only()""",
    ]


def upgrade(schema: str) -> None:
    op.create_index(
        "ledger_one_entry_per_hold_and_kind",
        "ledger",
        ["reservation_id", "kind"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("reservation_id IS NOT NULL"),
    )
    op.create_check_constraint(
        "hold_state_known", "holds", "state IN ('held', 'consumed', 'released', 'expired')", schema=schema
    )
    op.create_check_constraint(
        "hold_consumed_within_amount", "holds", "consumed_amount >= 0 AND consumed_amount <= amount", schema=schema
    )
    op.add_column(
        "rates",
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.add_column("rates", sa.Column("updated_by", sa.Text, nullable=False, server_default="seed"), schema=schema)
    op.execute(
        f"INSERT INTO {schema}.rates (provider, duration_seconds, credit_type, amount) VALUES"
        " ('local', 5, 'ai_video_generation', 1), ('local', 10, 'ai_video_generation', 2) ON CONFLICT DO NOTHING"
    )
    for statement in _functions(schema):
        op.execute(statement)


def downgrade(schema: str) -> None:
    op.execute(f"DROP TRIGGER ledger_append_only ON {schema}.ledger")
    for name in ("ledger_is_append_only()", "expire_due(int)", "grant_credits(text, text, bigint, text, text)"):
        op.execute(f"DROP FUNCTION {schema}.{name}")
    op.execute(f"DROP FUNCTION {schema}.release(text, text, text)")
    op.execute(f"DROP FUNCTION {schema}.consume(text, bigint, text)")
    op.execute(f"DROP FUNCTION {schema}.reserve(text, text, bigint, text, text, int)")
    op.execute(f"DELETE FROM {schema}.rates WHERE provider = 'local'")
    op.drop_column("rates", "updated_by", schema=schema)
    op.drop_column("rates", "updated_at", schema=schema)
    op.drop_constraint("hold_consumed_within_amount", "holds", schema=schema)
    op.drop_constraint("hold_state_known", "holds", schema=schema)
    op.drop_index("ledger_one_entry_per_hold_and_kind", "ledger", schema=schema)
