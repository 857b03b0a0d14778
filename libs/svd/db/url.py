"""Database URLs as operators hand them over, mapped to the driver the services use (SQLAlchemy on psycopg 3).

CloudNativePG's `<cluster>-app` secret carries a libpq URI (`postgresql://user:password@host:5432/db`), as do most
managed PostgreSQL offerings (some still say `postgres://`). SQLAlchemy reads a bare `postgresql://` as psycopg2,
which is not installed, so every URL is normalised to `postgresql+psycopg://` before an engine sees it.
"""

from __future__ import annotations

DRIVER = "postgresql+psycopg"
_ACCEPTED = ("postgresql", "postgres", DRIVER)


def sqlalchemy_url(url: str) -> str:
    """`url` with the psycopg 3 driver; a scheme we cannot serve is refused by name (the URL holds a password)."""
    scheme, separator, rest = url.strip().partition("://")
    if not separator:
        raise ValueError("the database URL must look like postgresql://user:password@host:port/database")
    if scheme.lower() not in _ACCEPTED:
        raise ValueError(f"database URL scheme {scheme!r} is not supported: use postgresql:// or {DRIVER}://")
    return f"{DRIVER}://{rest}"
