"""Async SQLAlchemy engines (psycopg 3) and the transaction helper every repository uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from svd.telemetry import instrument_engine


def create_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """An instrumented async engine; `database_url` uses the `postgresql+psycopg://` driver."""
    engine = create_async_engine(database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    instrument_engine(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on any error."""
    async with sessions() as session, session.begin():
        yield session
