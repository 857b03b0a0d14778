"""Looks up the caller's key: configured keys first (service and bootstrap keys), then issued keys in the database.

Lookups are cached for a few seconds (hits and misses alike), so a busy API costs the database one query per key
per TTL, and a revoked key stops working within that TTL.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from svd.apikeys.models import SCHEMA, api_keys
from svd.db import migrate
from svd.grpc.auth import KeyStore, Principal, hash_key

VERSIONS = Path(__file__).parent / "migrations" / "versions"
CACHE_TTL_S = 5.0
CACHE_MAX = 10_000


async def migrate_keys(database_url: str) -> None:
    await migrate(database_url, SCHEMA, VERSIONS)


class DatabaseKeyStore:
    def __init__(self, engine: AsyncEngine, configured: KeyStore, ttl_s: float = CACHE_TTL_S) -> None:
        self._engine = engine
        self._configured = configured
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def lookup(self, api_key: str) -> Principal | None:
        found = await self._configured.lookup(api_key)
        if found is not None:
            return found
        digest = hash_key(api_key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(api_keys.c.tenant_id, api_keys.c.is_admin).where(
                        api_keys.c.digest == digest, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
        result = None if row is None else Principal(tenant_id=row.tenant_id, is_admin=row.is_admin)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl_s, result)
        return result
