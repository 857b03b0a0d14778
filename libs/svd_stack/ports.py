"""Free-port picking on 127.0.0.1 and (re)allocation of the named ports of each component.

A port remembered in stack.json is reused so URLs stay valid across `svd up` runs; it is only
replaced when it is no longer free and its owner is not our own (still running) process.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

LOCALHOST = "127.0.0.1"
_LOWEST = 20000  # well above the usual fixed ports of dev tools (5432, 4222, 8080, 9000, ...)

log = logging.getLogger(__name__)


def is_free(port: int, host: str = LOCALHOST) -> bool:
    """True if a server could bind `host:port` now (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def pick_free_port(host: str = LOCALHOST, exclude: Collection[int] = ()) -> int:
    """A free port on `host`, not in `exclude`.

    Preferably below the kernel's ephemeral range, so outgoing connections (which take their
    local port from that range) can never squat on a port we remember for the next `svd up`.
    """
    low = _ephemeral_range()[0]
    if low > _LOWEST + 1000:
        for _ in range(200):
            port = random.randrange(_LOWEST, low)
            if port not in exclude and is_free(port, host):
                return port
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise RuntimeError("could not find a free port")


def allocate(
    names: Sequence[str],
    remembered: Mapping[str, int],
    *,
    taken: set[int],
    in_use_by_us: bool = False,
) -> dict[str, int]:
    """Ports for `names`: remembered ones when still usable, fresh free ones otherwise.

    `taken` holds ports already handed out in this run (updated in place) so two names never
    share a port. `in_use_by_us` means the component is running, so its ports are busy by design.
    """
    ports: dict[str, int] = {}
    for name in names:
        port = remembered.get(name)
        usable = port is not None and port not in taken and (in_use_by_us or is_free(port))
        if port is not None and not usable:
            log.warning("port %s (%s) is no longer available, picking a new one", port, name)
        if port is None or not usable:
            port = pick_free_port(exclude=taken)
        ports[name] = port
        taken.add(port)
    return ports
