"""Billing settings (environment)."""

from svd.settings import BaseServiceSettings, DatabaseSettings


class BillingSettings(BaseServiceSettings, DatabaseSettings):
    # Connections serve one statement each (one per credit movement); a few per core keep PostgreSQL busy.
    database_pool_size: int = 8
    # Batches of holds / consumes / releases in flight at once (group commit; see billing.batcher).
    batch_flushers: int = 2
    # How often this replica looks for holds past their TTL (replicas split the work; see expire_due).
    sweep_interval_s: float = 30.0
    # TTL of a hold whose Reserve names none.
    default_hold_ttl_s: int = 3600
