"""A service missing a setting fails at start naming it, never printing the values it read (they include secrets)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing.settings import BillingSettings

SECRET = "hunter2-x9"


def test_a_missing_setting_is_named_without_echoing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVD_SERVICE_API_KEY", SECRET)
    monkeypatch.setenv("DO_SPACES_SECRET", SECRET)
    # The bus URL carries the NATS password (as the dev stack's does), and it is the first value read.
    monkeypatch.setenv("NATS_URL", f"nats://u:{SECRET}@h:1")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError) as caught:
        BillingSettings()  # type: ignore[call-arg]
    message = str(caught.value)
    assert "database_url" in message
    assert SECRET not in message
