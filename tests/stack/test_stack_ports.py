"""Free-port picking and the reuse of remembered ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from svd_stack.ports import _ephemeral_range, allocate, is_free, pick_free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_pick_free_port_is_free_outside_the_ephemeral_range_and_honours_exclude() -> None:
    first = pick_free_port()
    assert is_free(first)
    assert first < _ephemeral_range()[0]
    assert pick_free_port(exclude={first}) != first


def test_listening_port_is_not_free(busy_port: int) -> None:
    assert not is_free(busy_port)


def test_allocate_reuses_remembered_free_ports_and_never_duplicates() -> None:
    remembered = pick_free_port()
    taken: set[int] = set()
    ports = allocate(["a", "b", "c"], {"a": remembered}, taken=taken)
    assert ports["a"] == remembered
    assert len(set(ports.values())) == 3
    assert taken == set(ports.values())
    # A port already handed out in this run is not given to a second name.
    again = allocate(["d"], {"d": remembered}, taken=taken)
    assert again["d"] != remembered


def test_allocate_replaces_a_busy_port_unless_it_is_our_running_process(busy_port: int) -> None:
    assert allocate(["x"], {"x": busy_port}, taken=set())["x"] != busy_port
    assert allocate(["x"], {"x": busy_port}, taken=set(), in_use_by_us=True)["x"] == busy_port
