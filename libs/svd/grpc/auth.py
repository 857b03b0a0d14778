"""API-key authentication: who is calling, and what they may see.

Keys travel as `authorization: Bearer <key>` metadata and are stored only as SHA-256 digests. A key is scoped to one
tenant or is an admin key. A tenant asking about another tenant's data is answered NOT_FOUND, never
PERMISSION_DENIED, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from svd.errors import NotFound, PermissionDenied, Unauthenticated

ADMIN = "*"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an admin, or a tenant."""

    tenant_id: str | None
    is_admin: bool = False
    # Which key it is, for the record of who did what (an issued key's id, or `config:<digest prefix>`); not part
    # of what the caller may do, so two principals with the same rights compare equal.
    key_id: str = field(default="", compare=False)

    def can_see(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id

    def require_tenant(self, tenant_id: str, what: str = "resource") -> None:
        """Raise NotFound unless the caller may see `tenant_id`'s data."""
        if not self.can_see(tenant_id):
            raise NotFound(f"{what} not found")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("this operation needs an admin API key")

    def scope_tenant(self, requested: str) -> str:
        """The tenant a listing is limited to: a tenant key is always limited to its own tenant."""
        if self.is_admin:
            return requested
        assert self.tenant_id is not None
        if requested and requested != self.tenant_id:
            raise NotFound("tenant not found")
        return self.tenant_id


current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def principal() -> Principal:
    """The caller of the RPC being served (set by the auth interceptor)."""
    value = current_principal.get()
    if value is None:
        raise Unauthenticated("missing credentials")
    return value


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class KeyStore(Protocol):
    async def lookup(self, api_key: str) -> Principal | None: ...


class StaticKeyStore:
    """Keys from configuration: a mapping of key digest → tenant id (or "*" for admin)."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._digests = dict(digests)

    async def lookup(self, api_key: str) -> Principal | None:
        digest = hash_key(api_key)
        for known, scope in self._digests.items():
            if hmac.compare_digest(known, digest):
                key_id = f"config:{known[:12]}"
                if scope == ADMIN:
                    return Principal(tenant_id=None, is_admin=True, key_id=key_id)
                return Principal(tenant_id=scope, key_id=key_id)
        return None


def bearer_token(metadata: Mapping[str, str]) -> str | None:
    value = metadata.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
