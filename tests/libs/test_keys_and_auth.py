"""Object-key conventions and API-key scoping."""

from __future__ import annotations

import pytest

from svd import keys
from svd.errors import NotFound, PermissionDenied
from svd.grpc.auth import Principal, StaticKeyStore, bearer_token, hash_key
from svd.ids import message_id, short_id


def test_video_key_follows_the_convention() -> None:
    nanoid = short_id()
    assert keys.video_key("t1", "post-9", nanoid) == f"tenants/t1/social-videos/post-9/{nanoid}.mp4"
    assert len(nanoid) == 21


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x" * 200, "sp ace"])
def test_unsafe_segments_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="object key"):
        keys.video_key(bad, "p", "n")


def test_message_ids_are_deterministic() -> None:
    assert message_id("j", "ready", 2) == message_id("j", "ready", 2)
    assert message_id("j", "ready", 2) != message_id("j", "ready", 3)


async def test_key_store_scopes_keys() -> None:
    store = StaticKeyStore({hash_key("admin-key"): "*", hash_key("tenant-key"): "t1"})
    admin = await store.lookup("admin-key")
    tenant = await store.lookup("tenant-key")
    assert admin == Principal(None, is_admin=True)
    assert tenant == Principal("t1")
    assert await store.lookup("nope") is None
    assert tenant is not None
    tenant.require_tenant("t1")
    with pytest.raises(NotFound):
        tenant.require_tenant("t2")
    with pytest.raises(PermissionDenied):
        tenant.require_admin()
    assert tenant.scope_tenant("") == "t1"


def test_bearer_token_parsing() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None
