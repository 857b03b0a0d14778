"""Looks up the caller's key: configured keys first (service and bootstrap keys), then issued keys in the database.

Issued keys are few (an operator creates them), callers are many and may present any string, so the store keeps a
snapshot of every active key's digest in memory and answers from it; no lookup costs a query of its own:
- The snapshot is checked at most every `ttl_s` (5 s) with one cheap aggregate query, and reloaded only when a key
  was created or revoked since; a revoked key therefore stops working within `ttl_s`.
- A key missing from the snapshot waits for a reload that starts after it arrived (so a key created a moment ago
  works at once), but misses share their reloads and start at most one every `miss_refresh_s`: a flood of random
  keys costs the database at most one query per `miss_refresh_s`, and the unknown callers a short wait.
- The database unreachable: the snapshot is used while younger than `max_stale_s`, then lookups of issued keys fail
  as `Unavailable` (configured keys keep working), never as a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from svd.apikeys.models import SCHEMA, api_keys
from svd.db import migrate
from svd.errors import Unavailable
from svd.grpc.auth import KeyStore, Principal, hash_key

log = logging.getLogger(__name__)

VERSIONS = Path(__file__).parent / "migrations" / "versions"
CACHE_TTL_S = 5.0
MISS_REFRESH_S = 1.0
MAX_STALE_S = 60.0


async def migrate_keys(database_url: str) -> None:
    await migrate(database_url, SCHEMA, VERSIONS)


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, Principal]  # digest → principal, active keys only
    fingerprint: tuple[Any, ...]  # changes whenever a key is created or revoked
    started: float  # monotonic time the reading query started: the snapshot is at least that fresh


_EMPTY = _Snapshot({}, (), float("-inf"))
_DATABASE_ERRORS = (SQLAlchemyError, OSError)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a reload's failure as seen: it was logged, and the lookups that waited for it got their answer."""
    if not task.cancelled():
        task.exception()


class DatabaseKeyStore:
    def __init__(
        self,
        engine: AsyncEngine,
        configured: KeyStore,
        ttl_s: float = CACHE_TTL_S,
        miss_refresh_s: float = MISS_REFRESH_S,
        max_stale_s: float = MAX_STALE_S,
    ) -> None:
        self._engine = engine
        self._configured = configured
        self._ttl_s = ttl_s
        self._miss_refresh_s = miss_refresh_s
        self._max_stale_s = max(max_stale_s, ttl_s)
        self._snapshot = _EMPTY
        self._refreshing: asyncio.Task[None] | None = None
        self._last_start = float("-inf")

    async def lookup(self, api_key: str) -> Principal | None:
        found = await self._configured.lookup(api_key)
        if found is not None:
            return found
        digest = hash_key(api_key)
        asked = time.monotonic()
        if asked - self._snapshot.started > self._ttl_s:
            await self._fresh_since(asked - self._ttl_s, pace=0.0)
        found = self._snapshot.keys.get(digest)
        if found is None:
            await self._fresh_since(asked, pace=self._miss_refresh_s)
            found = self._snapshot.keys.get(digest)
        return found

    async def _fresh_since(self, moment: float, pace: float) -> None:
        """Wait until the snapshot was read after `moment`; reloads are shared and start `pace` s apart at most."""
        while self._snapshot.started < moment:
            task = self._refreshing
            if task is None or task.done():
                task = self._refreshing = asyncio.create_task(self._refresh(pace))
                task.add_done_callback(_retrieve)
            try:
                # Shielded: other lookups may be waiting on the same reload when this caller goes away.
                await asyncio.shield(task)
            except _DATABASE_ERRORS as exc:
                if time.monotonic() - self._snapshot.started > self._max_stale_s:
                    raise Unavailable("cannot check the API key now: the key database is unreachable") from exc
                return  # a recent enough snapshot answers while the database is away

    async def _refresh(self, pace: float) -> None:
        wait = self._last_start + pace - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        started = self._last_start = time.monotonic()
        try:
            async with self._engine.connect() as connection:
                fingerprint = tuple(
                    (
                        await connection.execute(
                            select(
                                func.count(),
                                func.count(api_keys.c.revoked_at),
                                func.max(api_keys.c.created_at),
                                func.max(api_keys.c.revoked_at),
                            )
                        )
                    ).one()
                )
                keys = self._snapshot.keys
                if fingerprint != self._snapshot.fingerprint:
                    rows = await connection.execute(
                        select(api_keys.c.key_id, api_keys.c.digest, api_keys.c.tenant_id, api_keys.c.is_admin).where(
                            api_keys.c.revoked_at.is_(None)
                        )
                    )
                    keys = {
                        row.digest: Principal(tenant_id=row.tenant_id, is_admin=row.is_admin, key_id=row.key_id)
                        for row in rows
                    }
        except _DATABASE_ERRORS:
            log.warning("API keys: cannot reload the issued keys; the last snapshot is used", exc_info=True)
            raise
        self._snapshot = _Snapshot(keys, fingerprint, started)
