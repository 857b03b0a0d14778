"""Async SQLAlchemy engines (psycopg 3) and the transaction helper every repository uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from svd.db.url import sqlalchemy_url
from svd.telemetry import instrument_engine

# A database that does not answer must fail a call in bounded time (the caller retries it), never hang a handler:
# connecting, any one statement, and a transaction left idle (a stuck client holding row locks) are all bounded.
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 30_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


def server_options(extra: str = "") -> str:
    """libpq `options` that bound every statement and idle transaction of a connection."""
    bounds = (
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    )
    return f"{bounds} {extra}".strip()


def create_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """An instrumented async engine on psycopg 3 (`postgresql://` and `postgresql+psycopg://` URLs alike)."""
    engine = create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "options": server_options()},
    )
    instrument_engine(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on any error."""
    async with sessions() as session, session.begin():
        yield session
