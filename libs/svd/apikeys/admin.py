"""Issuing, listing and revoking API keys (what `svd keys` does). A new key is shown once and stored as a digest."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from svd.apikeys.models import api_keys
from svd.errors import InvalidArgument, NotFound
from svd.grpc.auth import hash_key
from svd.ids import short_id
from svd.timeutil import utcnow


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    tenant_id: str | None
    is_admin: bool
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    record: KeyRecord
    api_key: str  # shown once, never stored


async def create_key(engine: AsyncEngine, *, tenant_id: str | None, admin: bool, name: str = "") -> IssuedKey:
    if admin == bool(tenant_id):
        raise InvalidArgument("a key is either for one tenant or an admin key")
    api_key = "svd_" + secrets.token_urlsafe(32)
    values = {
        "key_id": short_id(),
        "digest": hash_key(api_key),
        "tenant_id": tenant_id or None,
        "is_admin": admin,
        "name": name,
        "created_at": utcnow(),
    }
    async with engine.begin() as connection:
        row = (await connection.execute(insert(api_keys).values(**values).returning(api_keys))).one()
    return IssuedKey(_record(row), api_key)


async def list_keys(
    engine: AsyncEngine, *, tenant_id: str | None = None, include_revoked: bool = False
) -> list[KeyRecord]:
    query = select(api_keys).order_by(api_keys.c.created_at)
    if tenant_id:
        query = query.where(api_keys.c.tenant_id == tenant_id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    async with engine.connect() as connection:
        return [_record(row) for row in await connection.execute(query)]


async def revoke_key(engine: AsyncEngine, key_id: str) -> KeyRecord:
    """Revoke a key (idempotent: revoking it again keeps the first revocation time)."""
    async with engine.begin() as connection:
        await connection.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        row = (await connection.execute(select(api_keys).where(api_keys.c.key_id == key_id))).first()
    if row is None:
        raise NotFound(f"key {key_id} not found")
    return _record(row)


def _record(row: object) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,  # type: ignore[attr-defined]
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        is_admin=row.is_admin,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )
