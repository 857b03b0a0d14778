"""Object-key conventions, API-key scoping, which gRPC methods need a key, and the issued-key store's cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from svd import keys
from svd.apikeys import DatabaseKeyStore, create_key, revoke_key
from svd.db import create_engine
from svd.errors import NotFound, PermissionDenied, Unavailable
from svd.grpc.auth import KeyStore, Principal, StaticKeyStore, bearer_token, hash_key
from svd.grpc.server import ServiceBinding, start_server
from svd.ids import message_id, short_id
from tests.processes import free_port


def test_video_key_follows_the_convention() -> None:
    nanoid = short_id()
    assert keys.video_key("t1", "post-9", nanoid) == f"tenants/t1/social-videos/post-9/{nanoid}.mp4"
    assert len(nanoid) == 21


def test_a_runs_still_source_and_overlay_live_side_by_side() -> None:
    stills = "tenants/t1/social-videos/post-9/stills/"
    assert keys.still_key("t1", "post-9", "job-1", 2) == f"{stills}job-1-2.png"
    assert keys.still_source_key("t1", "post-9", "job-1", 2) == f"{stills}job-1-2-source.png"
    assert keys.still_overlay_key("t1", "post-9", "job-1", 2) == f"{stills}job-1-2-overlay.png"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x" * 200, "sp ace"])
@pytest.mark.parametrize("key", [keys.still_key, keys.still_source_key, keys.still_overlay_key])
def test_unsafe_segments_are_refused_in_still_keys(bad: str, key: Callable[[str, str, str, int], str]) -> None:
    for args in ((bad, "p", "j"), ("t", bad, "j"), ("t", "p", bad)):
        with pytest.raises(ValueError, match="object key"):
            key(*args, 0)


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
    assert admin is not None and tenant is not None
    # Who did what is recorded by key id: a configured key's is its digest's prefix, never the key.
    assert admin.key_id == f"config:{hash_key('admin-key')[:12]}" != tenant.key_id
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


# --- the gRPC server: which methods need a key -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _server_with_keys(keys: KeyStore, bindings: Sequence[ServiceBinding] = ()) -> AsyncIterator[grpc.aio.Channel]:
    """A real server from `start_server` (health and reflection, and `bindings`), and a channel to it."""
    listen = f"127.0.0.1:{free_port()}"
    server = await start_server(listen, bindings, keys)
    channel = grpc.aio.insecure_channel(listen)
    try:
        yield channel
    finally:
        await channel.close()
        await server.stop(None)


async def _list_services(channel: grpc.aio.Channel, api_key: str | None) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
    )
    responses = [response async for response in call]
    return [service.name for service in responses[0].list_services_response.service]


async def test_health_is_open_to_probes_and_reflection_needs_a_key() -> None:
    async with _server_with_keys(StaticKeyStore({hash_key("admin-key"): "*"})) as channel:
        # Kubernetes' gRPC probes send no metadata: health must answer without a key.
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        # Reflection describes the whole API: not to anonymous callers, nor with a wrong key.
        for key in (None, "wrong-key"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _list_services(channel, key)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "grpc.health.v1.Health" in await _list_services(channel, "admin-key")


class _DownKeyStore:
    async def lookup(self, api_key: str) -> Principal | None:
        raise Unavailable("cannot check the API key now")


async def test_a_key_store_that_cannot_answer_is_unavailable_not_unknown() -> None:
    async with _server_with_keys(_DownKeyStore()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_services(channel, "some-key")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def _failing_service(error: Exception) -> ServiceBinding:
    """A service `test.Failing` whose one method `Call` raises `error`."""

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise error

    handler = grpc.method_handlers_generic_handler("test.Failing", {"Call": grpc.unary_unary_rpc_method_handler(call)})
    return ServiceBinding(lambda _, server: server.add_generic_rpc_handlers((handler,)), None, "test.Failing")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), grpc.StatusCode.UNAVAILABLE),
        (ConnectionRefusedError("object store down"), grpc.StatusCode.UNAVAILABLE),
        (NotFound("job j1 not found"), grpc.StatusCode.NOT_FOUND),
        (ValueError("a bug"), grpc.StatusCode.UNKNOWN),
    ],
)
async def test_infrastructure_failures_are_unavailable_so_callers_retry(
    error: Exception, code: grpc.StatusCode
) -> None:
    store = StaticKeyStore({hash_key("admin-key"): "*"})
    async with _server_with_keys(store, [_failing_service(error)]) as channel:
        call = channel.unary_unary("/test.Failing/Call")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"", metadata=(("authorization", "Bearer admin-key"),))
        assert caught.value.code() == code
        if code == grpc.StatusCode.UNAVAILABLE:
            assert "closed the connection" not in (caught.value.details() or ""), "no internals in the message"


# --- issued keys in the database ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _key_store(stack: Any, **options: float) -> AsyncIterator[tuple[DatabaseKeyStore, AsyncEngine, list[str]]]:
    """A `DatabaseKeyStore` on the stack's PostgreSQL over a 2-connection pool (as services have it), and the key
    queries it sends."""
    engine = create_engine(stack.info["database_url"], pool_size=2)
    queries: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "api_keys" in statement:
            queries.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield DatabaseKeyStore(engine, StaticKeyStore({hash_key("configured"): "*"}), **options), engine, queries
    finally:
        await engine.dispose()


async def test_unknown_keys_do_not_cost_a_query_each_nor_evict_known_keys(stack) -> None:  # type: ignore[no-untyped-def]
    async with _key_store(stack) as (store, engine, queries):
        issued = await create_key(engine, tenant_id=f"t-{short_id(8)}", admin=False, name="cache test")
        found = await store.lookup(issued.api_key)
        assert found == Principal(issued.record.tenant_id)
        assert found is not None and found.key_id == issued.record.key_id
        before = len(queries)

        # A flood of random keys, more than any per-key cache holds, all at once.
        answers = await asyncio.gather(*(store.lookup(f"svd_{short_id(43)}") for _ in range(12_000)))
        assert not any(answers)
        assert len(queries) - before <= 4, f"{len(queries) - before} key queries for 12,000 unknown keys"

        # The known key is still answered from memory (no query), well within its TTL.
        before = len(queries)
        assert await store.lookup(issued.api_key) == Principal(issued.record.tenant_id)
        assert await store.lookup("configured") == Principal(None, is_admin=True)
        assert len(queries) == before


async def test_new_keys_work_at_once_and_revoked_keys_stop_within_the_ttl(stack) -> None:  # type: ignore[no-untyped-def]
    async with _key_store(stack, ttl_s=0.5, miss_refresh_s=0.2) as (store, engine, _):
        tenant = f"t-{short_id(8)}"
        first = await create_key(engine, tenant_id=tenant, admin=False)
        assert await store.lookup(first.api_key) == Principal(tenant)  # the snapshot is fresh now
        second = await create_key(engine, tenant_id=tenant, admin=False)
        assert await store.lookup(second.api_key) == Principal(tenant), "a key created a moment ago must work"

        await revoke_key(engine, first.record.key_id)
        await asyncio.sleep(0.6)
        assert await store.lookup(first.api_key) is None
        assert await store.lookup(second.api_key) == Principal(tenant)


async def test_unreachable_key_database_is_unavailable_for_issued_keys_only() -> None:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none", pool_size=1)
    try:
        store = DatabaseKeyStore(engine, StaticKeyStore({hash_key("configured"): "*"}), max_stale_s=0.1)
        assert await store.lookup("configured") == Principal(None, is_admin=True)
        with pytest.raises(Unavailable):
            await store.lookup("svd_some-issued-key")
    finally:
        await engine.dispose()
