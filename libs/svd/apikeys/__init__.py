"""API keys issued at run time (`svd keys create`): stored as SHA-256 digests in their own schema, shared by every
service that serves a tenant-facing gRPC API, and revocable.

The schema belongs to the platform, not to a service: authentication is cross-cutting, like the bus topology, so
each API service migrates it on start (an advisory lock makes that safe) and only reads it afterwards.
"""

from svd.apikeys.admin import IssuedKey, KeyRecord, create_key, list_keys, revoke_key
from svd.apikeys.store import DatabaseKeyStore, migrate_keys

__all__ = ["DatabaseKeyStore", "IssuedKey", "KeyRecord", "create_key", "list_keys", "migrate_keys", "revoke_key"]
