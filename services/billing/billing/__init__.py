"""Billing service: credit accounts, holds with a TTL, an append-only ledger and credit rates."""
