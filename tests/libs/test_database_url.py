"""The services take CloudNativePG's `postgresql://` URI (its `<cluster>-app` secret) as well as SQLAlchemy's form."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing.settings import BillingSettings
from svd.db import create_engine
from svd.db.pool import conninfo
from svd.db.url import sqlalchemy_url

# What CloudNativePG writes under `uri` in the `<cluster>-app` secret (password percent-encoded).
CNPG_URI = "postgresql://app:p%40ss%2Fw0rd@svd-pg-rw.svd:5432/app"
PSYCOPG_URL = "postgresql+psycopg://app:p%40ss%2Fw0rd@svd-pg-rw.svd:5432/app"


@pytest.mark.parametrize("url", [CNPG_URI, PSYCOPG_URL, CNPG_URI.replace("postgresql://", "postgres://")])
def test_libpq_uris_map_to_the_psycopg_driver(url: str) -> None:
    assert sqlalchemy_url(url) == PSYCOPG_URL


@pytest.mark.parametrize("url", ["postgresql+psycopg2://app:secret@h/db", "mysql://app:secret@h/db", "app:secret@h"])
def test_other_schemes_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        sqlalchemy_url(url)
    assert "secret" not in str(caught.value)


def test_settings_read_the_cloudnativepg_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("DATABASE_URL", CNPG_URI)
    assert BillingSettings().database_url == PSYCOPG_URL  # type: ignore[call-arg]


def test_settings_refuse_an_unusable_scheme_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("DATABASE_URL", "mysql://app:hunter2-x9@h/db")
    with pytest.raises(ValidationError) as caught:
        BillingSettings()  # type: ignore[call-arg]
    assert "database_url" in str(caught.value)
    assert "hunter2-x9" not in str(caught.value)


async def test_an_engine_on_the_plain_uri_uses_psycopg_3() -> None:
    # A bare postgresql:// would otherwise pick psycopg2, which is not installed (and is not async).
    engine = create_engine(CNPG_URI, pool_size=1)
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.url.password == "p@ss/w0rd"
    finally:
        await engine.dispose()


def test_pools_connect_with_the_plain_uri() -> None:
    assert conninfo(CNPG_URI) == "postgresql://app:p%40ss%2Fw0rd@svd-pg-rw.svd:5432/app"
