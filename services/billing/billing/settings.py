"""Billing settings (environment)."""

from svd.settings import BaseServiceSettings, DatabaseSettings


class BillingSettings(BaseServiceSettings, DatabaseSettings):
    sweep_interval_s: float = 30.0
    default_hold_ttl_s: int = 3600
