"""Billing service processes for tests and benchmarks: real `python -m billing` replicas on free loopback ports.

Each replica gets its own API keys (an admin key and tenant-scoped keys), talks to the given PostgreSQL, and is
stopped by its pid (SIGTERM, then SIGKILL if it does not stop).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from svd_stack.checks import grpc_serving
from svd_stack.ports import pick_free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Keys:
    """API keys accepted by the replicas: one admin key and one key per tenant."""

    admin: str = field(default_factory=lambda: "adm_" + secrets.token_urlsafe(24))
    tenants: dict[str, str] = field(default_factory=dict)

    def for_tenant(self, tenant_id: str) -> str:
        return self.tenants.setdefault(tenant_id, "ten_" + secrets.token_urlsafe(24))

    def config(self) -> str:
        """`SVD_API_KEYS`: sha256 digest → tenant id, or "*" for the admin key."""
        digests = {hashlib.sha256(self.admin.encode()).hexdigest(): "*"}
        digests |= {hashlib.sha256(key.encode()).hexdigest(): tenant for tenant, key in self.tenants.items()}
        return json.dumps(digests)


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    target: str
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_replica(
    database_url: str, nats_url: str, keys: Keys, log_dir: Path, *, wait_s: float = 60.0, **env: str
) -> Replica:
    """Start one billing process and wait until its gRPC health check answers SERVING."""
    port = pick_free_port()
    target = f"127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"billing-{port}.log"
    child_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "GRPC_LISTEN": target,
        "SVD_API_KEYS": keys.config(),
        "PYTHONUNBUFFERED": "1",
        **{name.upper(): value for name, value in env.items()},
    }
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        child_env.pop(name, None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "billing"], cwd=REPO, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    replica = Replica(process, target, log)
    deadline = time.monotonic() + wait_s
    while not grpc_serving(target, timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            replica.stop()
            raise RuntimeError(f"billing replica on {target} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return replica
