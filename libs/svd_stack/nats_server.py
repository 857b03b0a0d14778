"""NATS specifics: the `nats-server` command line and its private config file (the client credentials).

Clients must log in (user `svd`, a password that is a secret of the stack home): the port is on 127.0.0.1, where any
local user could otherwise publish `video.stored` or read the bus. The password lives in a 0600 config file, never
on the command line (`/proc/<pid>/cmdline` is readable by everyone), and in the URLs the stack hands out
(`nats://svd:<password>@127.0.0.1:<port>`: nats-py and FastStream read credentials from the URL).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from svd_stack.procs import find_binary

USER = "svd"
CONFIG = "nats.conf"


def url(host: str, port: int, password: str) -> str:
    """Client URL with credentials (the password is hex: nothing to escape)."""
    return f"nats://{USER}:{password}@{host}:{port}"


def write_config(data: Path, password: str) -> None:
    """Write `<data>/nats.conf` (0600) with the only account clients may use."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / CONFIG
    # JSON strings are valid NATS config strings (quoted, escaped).
    text = f"authorization {{\n  user: {json.dumps(USER)}\n  password: {json.dumps(password)}\n}}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed


def command(data: Path, host: str, client_port: int, monitor_port: int) -> list[str]:
    """JetStream stored under `data`; the monitoring port (health, no bus access) stays open to probes."""
    return [
        find_binary("nats-server"),
        "-c",
        str(data / CONFIG),
        "-a",
        host,
        "-p",
        str(client_port),
        "-js",
        "-sd",
        str(data),
        "-m",
        str(monitor_port),
    ]
