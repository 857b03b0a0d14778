"""Runs a service's Alembic migrations into its own schema, safely when several replicas start at once.

All services share one Alembic environment (`svd/db/alembic/env.py`); each keeps its revisions in its own versions
folder and its version table in its own schema. A PostgreSQL advisory lock serialises concurrent upgrades.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from svd.db.url import sqlalchemy_url

ENV_DIR = Path(__file__).parent / "alembic"


def _upgrade(database_url: str, schema: str, versions_dir: Path) -> None:
    engine = create_sync_engine(sqlalchemy_url(database_url))
    lock_id = zlib.crc32(f"svd-migrate:{schema}".encode())
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            config = Config()
            config.set_main_option("script_location", str(ENV_DIR))
            config.set_main_option("version_locations", str(versions_dir))
            config.attributes["connection"] = connection
            config.attributes["schema"] = schema
            command.upgrade(config, "head")
    finally:
        engine.dispose()


async def migrate(database_url: str, schema: str, versions_dir: Path) -> None:
    """Upgrade `schema` to the newest revision found in `versions_dir`."""
    await asyncio.to_thread(_upgrade, database_url, schema, versions_dir)
