"""The provider key pool: several API keys per provider, encrypted at rest, leased per outbound call.

Keys live in `video_gateway.provider_keys`, shared by every gateway replica. A lease is one prepared statement: the
least recently used valid key that is not cooling down is stamped and returned (`FOR UPDATE SKIP LOCKED`, so
concurrent leases from several replicas never wait on each other while another key is free). A 429 puts the key in
cooldown (`Retry-After`, else a default); a 401/403 marks it invalid for good. Pool writes run on autocommit connections
with `synchronous_commit = off`: a lease stamp lost in a crash costs nothing, and it keeps leasing cheap.
Usage events are buffered and written in batches by one background task (at most a second's worth is lost on a
crash); while the database is unreachable the buffer keeps at most `max_buffered_usage` events, dropping the oldest
(counted and logged). Decrypted keys are cached in memory by key id.

A task lives in the provider organisation of the key that created it, so status and cancel calls do not lease: they
use that key (`key`), whatever its cooldown, and fail clearly if it is gone or was refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import InvalidToken

from svd.cipher import SecretCipher
from svd.db.pool import Pool
from svd.telemetry import metrics
from video_gateway.models import KEY_INVALID, KEY_RETIRED, KEY_VALID, SCHEMA
from video_gateway.providers.base import ErrorKind, ProviderError

log = logging.getLogger(__name__)

_LEASE = f"""
    UPDATE {SCHEMA}.provider_keys SET last_used_at = clock_timestamp(), lease_count = lease_count + 1
    WHERE id = (
        SELECT id FROM {SCHEMA}.provider_keys
        WHERE provider = %(provider)s AND status = '{KEY_VALID}' AND (cooldown_until IS NULL OR cooldown_until <= now())
        ORDER BY last_used_at NULLS FIRST, id
        LIMIT 1 FOR UPDATE {{skip}})
    RETURNING id, label, fingerprint, ciphertext
    """
_LEASE_SKIP = _LEASE.replace("{skip}", "SKIP LOCKED")
_LEASE_WAIT = _LEASE.replace("{skip}", "")
_AVAILABILITY = f"""
    SELECT count(*) FILTER (WHERE status = '{KEY_VALID}') AS valid,
           count(*) FILTER (WHERE status = '{KEY_VALID}' AND (cooldown_until IS NULL OR cooldown_until <= now()))
               AS free,
           extract(epoch FROM min(cooldown_until) FILTER (WHERE status = '{KEY_VALID}') - now()) AS next_free_s,
           string_agg(label || ' ' || invalid_reason, '; ') FILTER (WHERE status = '{KEY_INVALID}') AS invalid
    FROM {SCHEMA}.provider_keys WHERE provider = %(provider)s
    """
_COOL_DOWN = f"""
    UPDATE {SCHEMA}.provider_keys
    SET cooldown_until = greatest(coalesce(cooldown_until, now()), now() + make_interval(secs => %(seconds)s))
    WHERE id = %(id)s
    """
_KEY = f"SELECT id, label, fingerprint, ciphertext, status, invalid_reason FROM {SCHEMA}.provider_keys WHERE id = %s"
_INVALIDATE = f"UPDATE {SCHEMA}.provider_keys SET status = '{KEY_INVALID}', invalid_reason = %s WHERE id = %s"
_ADD_KEY = f"""
    INSERT INTO {SCHEMA}.provider_keys (provider, fingerprint, label, ciphertext)
    VALUES (%(provider)s, %(fingerprint)s, %(label)s, %(ciphertext)s)
    ON CONFLICT (provider, fingerprint) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,
        status = CASE WHEN provider_keys.status = '{KEY_RETIRED}' THEN '{KEY_VALID}' ELSE provider_keys.status END
    """
_RETIRE_OTHERS = f"""
    UPDATE {SCHEMA}.provider_keys SET status = '{KEY_RETIRED}'
    WHERE provider = %s AND fingerprint <> ALL(%s) AND status <> '{KEY_RETIRED}'
    """
# Oldest first, a bounded batch per statement: pruning never holds long locks or builds a huge transaction.
_PRUNE_USAGE = f"""
    DELETE FROM {SCHEMA}.key_usage WHERE id IN (
        SELECT id FROM {SCHEMA}.key_usage WHERE at < now() - make_interval(secs => %s) LIMIT %s)
    """
_WRITE_USAGE = f"""
    INSERT INTO {SCHEMA}.key_usage (key_id, at, action, outcome, http_status, job_id)
    SELECT * FROM unnest(%s::int[], %s::timestamptz[], %s::text[], %s::text[], %s::smallint[], %s::text[])
    """


class KeyCipher(SecretCipher):
    """Fernet encryption of provider keys at rest (`svd.cipher`); several comma-separated KEKs rotate."""

    setting = "PROVIDER_KEY_ENCRYPTION_KEY"


def fingerprint(provider: str, secret: str) -> str:
    return hashlib.sha256(f"{provider}:{secret}".encode()).hexdigest()


def label(secret: str) -> str:
    """How a key is shown in logs and reasons: never more than its last four characters."""
    return f"…{secret[-4:]}" if len(secret) > 8 else "…"


@dataclass(frozen=True)
class Lease:
    key_id: int
    provider: str
    label: str
    secret: str


@dataclass(frozen=True)
class Usage:
    key_id: int
    at: datetime
    action: str
    outcome: str
    http_status: int
    job_id: str


class KeyPool:
    """The key pool over a pool of autocommit connections that do not wait for the WAL flush (`svd.db.pool`,
    `durable=False`): every write here (lease stamps, cooldowns, invalidations, usage) is one a crash may lose
    harmlessly, and a lease is one prepared statement per outbound call."""

    def __init__(
        self,
        connections: Pool,
        cipher: KeyCipher,
        *,
        default_cooldown_s: float,
        max_buffered_usage: int = 100_000,
    ) -> None:
        self._connections = connections
        self._cipher = cipher
        self._default_cooldown_s = default_cooldown_s
        self._secrets: dict[tuple[int, bytes], str] = {}
        self._configured: dict[str, str] = {}  # fingerprint → key, for the keys this replica is configured with
        self._usage: deque[Usage] = deque()
        self._max_usage = max(1, max_buffered_usage)
        self.dropped_usage = 0  # usage events dropped (oldest first) because the buffer was full
        self._dropped_logged = 0

    async def sync(self, provider: str, secrets: list[str]) -> None:
        """Make the configured keys of `provider` the pool: add new ones, re-encrypt known ones with the current
        KEK, retire keys no longer configured. Keys marked invalid stay invalid."""
        prints = [fingerprint(provider, s) for s in secrets]
        self._configured.update(zip(prints, secrets, strict=True))
        async with self._connections.connection() as conn, conn.transaction():
            for secret, digest in zip(secrets, prints, strict=True):
                await conn.execute(
                    _ADD_KEY,
                    {
                        "provider": provider,
                        "fingerprint": digest,
                        "label": label(secret),
                        "ciphertext": self._cipher.encrypt(secret),
                    },
                )
            await conn.execute(_RETIRE_OTHERS, (provider, prints))

    async def lease(self, provider: str) -> Lease:
        """The least recently used usable key of `provider`; `ProviderError` (NO_KEY, or RATE_LIMITED with the wait
        until a key leaves its cooldown) when there is none."""
        params = {"provider": provider}
        async with self._connections.connection() as conn:
            row = await (await conn.execute(_LEASE_SKIP, params)).fetchone()
            if row is None:
                availability: Any = await (await conn.execute(_AVAILABILITY, params)).fetchone()
                if availability.free:  # every free key was being leased concurrently: wait for one
                    row = await (await conn.execute(_LEASE_WAIT, params)).fetchone()
                if row is None:
                    raise _unavailable(provider, availability)
        secret = self._configured.get(row.fingerprint) or self._secret(row.id, bytes(row.ciphertext))
        return Lease(row.id, provider, row.label, secret)

    async def key(self, provider: str, key_id: int) -> Lease:
        """The key `key_id` (the one that submitted a task), valid or not; `ProviderError` (NO_KEY) saying why not
        when it is gone from the pool or was refused by the provider. A key since removed from the configuration
        (retired) is still used for the tasks it created: no other key can reach them."""
        async with self._connections.connection() as conn:
            row: Any = await (await conn.execute(_KEY, (key_id,))).fetchone()
        if row is None:
            raise ProviderError(
                f"the {provider} key (id {key_id}) that submitted this task is no longer in the key pool; "
                "no other key can check or cancel the task",
                ErrorKind.NO_KEY,
            )
        if row.status == KEY_INVALID:
            raise ProviderError(
                f"the {provider} key {row.label} that submitted this task was marked invalid ({row.invalid_reason}); "
                "no other key can check or cancel the task",
                ErrorKind.NO_KEY,
            )
        secret = self._configured.get(row.fingerprint) or self._secret(row.id, bytes(row.ciphertext))
        return Lease(row.id, provider, row.label, secret)

    def _secret(self, key_id: int, ciphertext: bytes) -> str:
        """A key added by another replica or an operator: decrypted with the KEK (cached)."""
        cached = self._secrets.get((key_id, ciphertext))
        if cached is None:
            try:
                cached = self._cipher.decrypt(ciphertext)
            except InvalidToken as exc:
                raise ProviderError(
                    f"key {key_id} cannot be decrypted with PROVIDER_KEY_ENCRYPTION_KEY", ErrorKind.NO_KEY
                ) from exc
            self._secrets[(key_id, ciphertext)] = cached
        return cached

    async def cool_down(self, lease: Lease, retry_after_s: float | None) -> None:
        seconds = retry_after_s if retry_after_s is not None else self._default_cooldown_s
        log.warning("%s key %s rate limited: cooling down for %.1f s", lease.provider, lease.label, seconds)
        metrics.key_cooldowns.add(1, {"provider": lease.provider})
        async with self._connections.connection() as conn:
            await conn.execute(_COOL_DOWN, {"id": lease.key_id, "seconds": seconds})

    async def invalidate(self, lease: Lease, reason: str) -> None:
        log.error("%s key %s marked invalid: %s", lease.provider, lease.label, reason)
        metrics.key_invalidations.add(1, {"provider": lease.provider})
        async with self._connections.connection() as conn:
            await conn.execute(_INVALIDATE, (reason[:300], lease.key_id))

    def record(self, lease: Lease, action: str, outcome: str, http_status: int = 0, job_id: str = "") -> None:
        """Buffer one usage event (written by `flush`)."""
        self._usage.append(Usage(lease.key_id, datetime.now(UTC), action, outcome, http_status, job_id))
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest events past the cap: usage is an audit trail, never worth the process's memory."""
        while len(self._usage) > self._max_usage:
            self._usage.popleft()
            self.dropped_usage += 1

    @property
    def buffered_usage(self) -> int:
        return len(self._usage)

    async def flush(self) -> int:
        """Write the buffered usage events in one batch; returns how many."""
        if self.dropped_usage > self._dropped_logged:
            log.warning(
                "key usage buffer full (%d events): %d oldest events dropped so far, %d since the last report",
                self._max_usage,
                self.dropped_usage,
                self.dropped_usage - self._dropped_logged,
            )
            self._dropped_logged = self.dropped_usage
        batch, self._usage = list(self._usage), deque()
        if not batch:
            return 0
        columns = [list(column) for column in zip(*(astuple(u) for u in batch), strict=True)]
        try:
            async with self._connections.connection() as conn:
                await conn.execute(_WRITE_USAGE, columns)
        except Exception:
            self._usage.extendleft(reversed(batch))  # keep them for the next flush, before anything newer
            self._trim()
            raise
        return len(batch)

    async def prune_usage(self, older_than_s: float, batch: int = 10_000) -> int:
        """Delete usage events older than `older_than_s`, `batch` rows per statement; returns how many."""
        deleted = 0
        async with self._connections.connection() as conn:
            while True:
                count = (await conn.execute(_PRUNE_USAGE, (older_than_s, batch))).rowcount
                deleted += count
                if count < batch:
                    return deleted

    async def run_flusher(
        self, stop: asyncio.Event, *, retention_s: float, interval_s: float = 1.0, prune_every_s: float = 3600.0
    ) -> None:
        """Flush usage events every `interval_s` until `stop`, then once more; prune events older than
        `retention_s` at start and every `prune_every_s`."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while not stop.is_set():
            if loop.time() >= next_prune:
                next_prune = loop.time() + prune_every_s
                try:
                    if pruned := await self.prune_usage(retention_s):
                        log.info("pruned %d key usage events older than %.0f days", pruned, retention_s / 86400)
                except Exception:
                    log.exception("pruning key usage failed; will retry")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
            try:
                await self.flush()
            except Exception:
                log.exception("writing key usage failed; will retry")


def _unavailable(provider: str, availability: Any) -> ProviderError:
    if not availability.valid:
        detail = f" (invalid: {availability.invalid})" if availability.invalid else ""
        return ProviderError(f"no valid {provider} API key left{detail}", ErrorKind.NO_KEY)
    wait = max(0.0, float(availability.next_free_s or 0.0))
    return ProviderError(
        f"every {provider} API key is cooling down after a rate limit", ErrorKind.RATE_LIMITED, retry_after_s=wait
    )
