"""gRPC channels between services: round robin over every replica, a call a replica refuses with UNAVAILABLE
retried on another, and TLS with a CA of our own (certificates made here with `cryptography`)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from svd.grpc.auth import StaticKeyStore, hash_key
from svd.grpc.client import channel, target
from svd.grpc.server import ServiceBinding, start_server, tls_credentials
from tests.processes import free_port

KEY = "svc-key"
KEYS = StaticKeyStore({hash_key(KEY): "*"})
WHO = "/test.Replica/Who"


def _who_binding(name: str, refuse: Callable[[], bool]) -> ServiceBinding:
    """A one-method service answering its replica's name (or UNAVAILABLE while `refuse()`, like one going away)."""

    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if refuse():
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{name} is going away")
        return name.encode()

    handler = grpc.method_handlers_generic_handler(
        "test.Replica", {"Who": grpc.unary_unary_rpc_method_handler(who, lambda b: b, lambda b: b)}
    )
    return ServiceBinding(lambda _s, server: server.add_generic_rpc_handlers((handler,)), None, "test.Replica")


@asynccontextmanager
async def _replica(name: str, refuse: Callable[[], bool] = lambda: False, **tls: Any) -> AsyncIterator[str]:
    address = f"127.0.0.1:{free_port()}"
    server = await start_server(address, [_who_binding(name, refuse)], KEYS, **tls)
    try:
        yield address
    finally:
        await server.stop(None)


async def _who(ch: grpc.aio.Channel) -> str:
    answer: bytes = await ch.unary_unary(WHO, lambda b: b, lambda b: b)(b"", timeout=10)
    return answer.decode()


def test_a_list_of_replicas_becomes_one_balanced_target() -> None:
    assert target("127.0.0.1:5001") == "127.0.0.1:5001"
    assert target(["127.0.0.1:5001"]) == "127.0.0.1:5001"
    assert target(["127.0.0.1:5001", "127.0.0.1:5002"]) == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    assert target("dns:///billing-headless.svd.svc.cluster.local:50051").startswith("dns:///")


async def test_calls_go_round_robin_and_a_refusing_replica_costs_no_call() -> None:
    going_away = False
    async with _replica("a", lambda: going_away) as a, _replica("b") as b:
        ch = channel(target([a, b]), KEY)
        try:
            answers = [await _who(ch) for _ in range(10)]
            assert {"a", "b"} == set(answers), answers  # both replicas serve (one pinned connection would not)
            going_away = True  # replica a refuses every call from now on: each is retried on b
            assert [await _who(ch) for _ in range(5)] == ["b"] * 5
        finally:
            await ch.close()


def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for 127.0.0.1 (PEM files: ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svd test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "billing")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


async def test_a_tls_listener_serves_clients_that_trust_its_ca_only(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca, _, _ = _certificates(tmp_path / "other")
    async with _replica("tls", credentials=tls_credentials(str(cert), str(key))) as address:
        secure = channel(address, KEY, tls_ca=str(ca))
        plain = channel(address, KEY)
        stranger = channel(address, KEY, tls_ca=str(other_ca))
        try:
            assert await _who(secure) == "tls"
            health = health_pb2_grpc.HealthStub(secure)
            assert (
                await health.Check(health_pb2.HealthCheckRequest())
            ).status == health_pb2.HealthCheckResponse.SERVING
            for refused in (plain, stranger):  # cleartext, or a certificate from a CA the client does not trust
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await refused.unary_unary(WHO, lambda b: b, lambda b: b)(b"", timeout=3, wait_for_ready=False)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            for ch in (secure, plain, stranger):
                await ch.close()


async def test_with_tls_the_probes_listener_answers_health_in_plaintext_and_nothing_else(tmp_path: Path) -> None:
    """The kubelet's gRPC probes cannot speak TLS: `GRPC_HEALTH_LISTEN` serves them health alone, in plaintext."""
    _, cert, key = _certificates(tmp_path)
    health_address = f"127.0.0.1:{free_port()}"
    tls = {"credentials": tls_credentials(str(cert), str(key)), "health_listen": health_address}
    async with _replica("tls", **tls):
        probe = grpc.aio.insecure_channel(health_address)
        try:
            answer = await health_pb2_grpc.HealthStub(probe).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as err:  # the service itself is not reachable in cleartext
                await probe.unary_unary(WHO, lambda b: b, lambda b: b)(b"", timeout=3)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        finally:
            await probe.close()
