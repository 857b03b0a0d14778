"""The download client connects only to the addresses it checked (no DNS rebinding between check and connect)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from media_store.guards import SourcePolicy, SourceRefused
from media_store.pinning import GuardedNetworkBackend, download_client
from media_store.transfer import TransferError, transfer

PUBLIC = "93.184.215.14"  # some public address; nothing here ever reaches it


class Recorder(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it was asked to connect, and refuses."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.targets.append((host, port))
        raise httpcore.ConnectError("recorded")


def resolver(*answers: list[str]):  # type: ignore[no-untyped-def]
    calls = iter(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return next(calls)

    return resolve


async def test_the_connection_goes_to_the_checked_address_not_the_name() -> None:
    inner = Recorder()
    backend = GuardedNetworkBackend(False, resolver([PUBLIC], ["127.0.0.1"]), inner)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("cdn.example.com", 443)
    assert inner.targets == [(PUBLIC, 443)]  # resolved once, and that answer used


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["169.254.169.254"], [PUBLIC, "10.0.0.7"], ["::1"], []])
async def test_a_name_resolving_to_a_private_address_is_never_connected_to(answer: list[str]) -> None:
    inner = Recorder()
    backend = GuardedNetworkBackend(False, resolver(answer), inner)
    with pytest.raises(SourceRefused, match=r"refusing to download from cdn\.example\.com"):
        await backend.connect_tcp("cdn.example.com", 443)
    assert inner.targets == []


async def test_every_checked_address_is_tried_in_turn() -> None:
    inner = Recorder()
    backend = GuardedNetworkBackend(False, resolver([PUBLIC, "8.8.8.8"]), inner)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("cdn.example.com", 443)
    assert inner.targets == [(PUBLIC, 443), ("8.8.8.8", 443)]


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(SourceRefused):
        await GuardedNetworkBackend(True).connect_unix_socket("/var/run/docker.sock")


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP listener on loopback that only counts the connections it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(connection)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


async def test_dns_rebinding_between_check_and_connect_cannot_reach_loopback(
    monkeypatch: pytest.MonkeyPatch, listener: tuple[int, list[object]]
) -> None:
    """The name answers a public address first and loopback afterwards: whatever resolves it again to connect
    reaches the machine itself. The download client resolves once, so it never connects to the listener."""
    port, accepted = listener
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if (host.decode() if isinstance(host, bytes) else host) != "rebind.example":  # anyio passes IDNA bytes
            return real(host, *args, **kwargs)
        lookups.append(host)
        address = PUBLIC if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, args[0] if args else port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = SourcePolicy(("rebind.example",))
    async with download_client(1.0, allow_loopback=False) as client:
        with pytest.raises((TransferError, SourceRefused)):
            await transfer(
                client,
                f"https://rebind.example:{port}/video.mp4",
                policy,
                store=None,  # type: ignore[arg-type]  # never reached
                key="k",
                attempts=1,
                max_bytes=1 << 20,
                part_size=5 << 20,
                parts_in_flight=1,
            )
    assert accepted == []
