"""NATS specifics: the `nats-server` command line and its private config file (users, permissions, cluster routes).

Clients must log in: the port is on 127.0.0.1, where any local user could otherwise publish `video.stored` or read
the bus. The operator's user (`svd`: provisioning, the demo, the tests' upstream router) may do anything; each
service logs in as itself, with the permissions `svd.bus.permissions` derives from the topology (it may publish only
what it owns and read only its own queues and inbox). Passwords are secrets of the stack home, kept in a 0600 config
file, never on the command line (`/proc/<pid>/cmdline` is readable by everyone), and in the URLs the stack hands out
(`nats://user:<password>@127.0.0.1:<port>`: nats-py and FastStream read credentials from the URL).

With `--nats-cluster N` each node gets a name, a route port on loopback and routes to its peers; routes
authenticate too, so no local process can join the cluster and read its traffic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svd.bus import permissions
from svd_stack.procs import find_binary

USER = "svd"
ROUTE_USER = "route"
CLUSTER_NAME = "svd"
CONFIG = "nats.conf"


def url(host: str, port: int, password: str, user: str = USER) -> str:
    """Client URL with credentials (passwords are hex, user names plain words: nothing to escape)."""
    return f"nats://{user}:{password}@{host}:{port}"


@dataclass(frozen=True)
class Cluster:
    """This node's place in a cluster: its route port and its peers' route ports on `host`."""

    host: str
    port: int
    peer_ports: Sequence[int]
    password: str


def config(
    server_name: str, admin_password: str, service_passwords: Mapping[str, str], cluster: Cluster | None = None
) -> dict[str, Any]:
    """The server's configuration (NATS config files accept JSON): users and permissions, and the cluster."""
    users: list[dict[str, Any]] = [{"user": USER, "password": admin_password}]
    users += permissions.render_users(dict(service_passwords))
    doc: dict[str, Any] = {"server_name": server_name, "authorization": {"users": users}}
    if cluster is not None:
        route = f"{ROUTE_USER}:{cluster.password}@{cluster.host}"
        doc["cluster"] = {
            "name": CLUSTER_NAME,
            "listen": f"{cluster.host}:{cluster.port}",
            "authorization": {"user": ROUTE_USER, "password": cluster.password},
            "routes": [f"nats-route://{route}:{port}" for port in cluster.peer_ports],
        }
    return doc


def write_config(data: Path, document: Mapping[str, Any]) -> None:
    """Write `<data>/nats.conf` (0600)."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / CONFIG
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(document, fh, indent=2)
        fh.write("\n")
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
