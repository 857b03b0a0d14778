"""The real embedded infrastructure: up, use, kill one, up again, down, up again after down.

The svd services are replaced by `fake_service` (gRPC health + an env dump) and the bus topology
by a recording stub, so this exercises every process the stack starts without the services' code.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import nats
import psutil
import psycopg
import pytest

from svd_stack import down, status, up
from svd_stack.components import NATS, POSTGRES, PROVIDER_SIM, S3, TOPOLOGY, Step, service
from svd_stack.ports import is_free

HAVE_SIM = importlib.util.find_spec("provider_sim") is not None
INFRA = ["nats", "postgres", "s3", *(["provider-sim"] if HAVE_SIM else [])]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "svd-home"
    yield path
    down(path)  # never leave processes behind, whatever happened


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment `svd up` runs in: no real Runway key; absolute PYTHONPATH incl. fake_service."""
    environ = {k: v for k, v in os.environ.items() if k != "RUNWAY_API_KEY"}
    paths = [str(Path(p).resolve()) for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *paths])
    environ["FAKE_SERVICE_ENV_DIR"] = str(tmp_path)
    # A user's own values: connection settings must be overridden, the rest must win.
    environ["NATS_URL"] = "nats://wrong-host:1"
    environ["VIDEO_POLL_INTERVAL_S"] = "7"
    return environ


def _s3(doc: dict[str, Any]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=doc["s3_endpoint"],
        aws_access_key_id=doc["s3_access_key"],
        aws_secret_access_key=doc["s3_secret_key"],
        region_name=doc["s3_region"],
    )


def _pg(doc: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(doc["database_url"].replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


async def _jetstream_ok(url: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


def _check_all(doc: dict[str, Any]) -> None:
    asyncio.run(_jetstream_ok(doc["nats_url"]))
    with _pg(doc) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == ("svd",)
    assert _s3(doc).get_object(Bucket=doc["s3_bucket"], Key="probe.txt")["Body"].read() == b"kept"
    if HAVE_SIM:
        assert httpx.get(f"{doc['runway_base_url']}/healthz", timeout=5).status_code == 200


def _pids(doc: dict[str, Any]) -> dict[str, int]:
    return {name: rec["pid"] for name, rec in doc["processes"].items() if rec.get("pid")}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_infra_up_kill_restart_down(home: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # 1. Cold start of the infrastructure.
    doc = up(home, only=INFRA, env=env)
    stored = json.loads((home / "stack.json").read_text())
    assert stored == doc
    required = ["nats_url", "database_url", "s3_endpoint", "s3_access_key", "s3_secret_key", "admin_api_key"]
    assert all(doc[key] for key in required)
    assert doc["s3_region"] == "us-east-1" and doc["s3_bucket"] == "svd-media"
    assert set(doc["grpc"]) == {"dispatcher", "billing", "media_store", "still_frame", "video_gateway"}
    assert ("runway_base_url" in doc) == HAVE_SIM
    for name in INFRA:
        record = doc["processes"][name]
        assert record["pid"] and record["cmdline"] and record["port"] and Path(record["log"]).exists()
    assert (home / "data" / "postgres" / "PG_VERSION").exists()

    _s3(doc).put_object(Bucket=doc["s3_bucket"], Key="probe.txt", Body=b"kept")
    with _pg(doc) as conn:
        conn.execute("create table marker (v text)")
        conn.execute("insert into marker values ('kept')")
    _check_all(doc)
    states = {s.name: s.state for s in status(home)}
    assert all(states[name] == "running" for name in INFRA)
    assert states["dispatcher"] == "stopped"

    # 2. Kill NATS and the postmaster; `up` brings them back on the same ports and runs the topology.
    seen_pids = set(_pids(doc).values())
    for name in ("nats", "postgres"):
        os.kill(doc["processes"][name]["pid"], signal.SIGKILL)
        _wait_gone(doc["processes"][name]["pid"])
    provisioned: list[tuple[list[str], int]] = []

    async def provision(nats_urls: list[str], replicas: int) -> None:
        provisioned.append((nats_urls, replicas))

    for module in ("svd", "svd.bus", "svd.bus.provision"):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    monkeypatch.setattr(sys.modules["svd.bus.provision"], "provision", provision, raising=False)
    again = up(home, only=[*INFRA, "topology"], env=env)
    assert provisioned == [([doc["nats_url"]], 1)] and doc["nats_urls"] == [doc["nats_url"]]
    for name in INFRA:
        assert again["processes"][name]["ports"] == doc["processes"][name]["ports"]
    for name in ("nats", "postgres"):
        assert again["processes"][name]["pid"] != doc["processes"][name]["pid"]
    assert again["processes"]["s3"]["pid"] == doc["processes"]["s3"]["pid"]  # healthy: left alone
    assert again["secrets"] == doc["secrets"]
    _check_all(again)

    # 3. Services (stand-ins) get the stack's environment and are health-checked over gRPC.
    fakes = [service("billing", "fake_service"), service("dispatcher", "fake_service")]
    plan: tuple[Step, ...] = (NATS, POSTGRES, S3, *([PROVIDER_SIM] if HAVE_SIM else []), TOPOLOGY, *fakes)
    with_services = up(home, plan=plan, env=env)
    assert provisioned == [([doc["nats_url"]], 1)] * 2
    dispatcher_port = with_services["processes"]["dispatcher"]["port"]
    seen = json.loads((Path(env["FAKE_SERVICE_ENV_DIR"]) / f"{dispatcher_port}.json").read_text())
    # The service logs in to NATS as itself (svd.bus.permissions), not as the operator.
    nats_port = doc["processes"]["nats"]["port"]
    password = doc["secrets"]["nats_password_dispatcher"]
    assert seen["NATS_URL"] == f"nats://dispatcher:{password}@127.0.0.1:{nats_port}"
    assert seen["DATABASE_URL"] == doc["database_url"]
    assert seen["GRPC_LISTEN"] == with_services["grpc"]["dispatcher"]
    assert seen["BILLING_GRPC_TARGET"] == with_services["grpc"]["billing"]
    assert seen["DO_SPACES_ENDPOINT"] == doc["s3_endpoint"] and seen["DO_SPACES_KEY"] == doc["s3_access_key"]
    assert seen["VIDEO_POLL_INTERVAL_S"] == "7" and seen["PYTHONUNBUFFERED"] == "1"
    if HAVE_SIM:
        assert seen["RUNWAY_BASE_URL"] == doc["runway_base_url"] and seen["VIDEO_POLL_INITIAL_DELAY_S"] == "2"
    assert {s.name: s.state for s in status(home, plan=plan)}["dispatcher"] == "running"
    seen_pids |= set(_pids(again).values()) | set(_pids(with_services).values())

    # 4. Down: every process we ever started is gone and every port is released.
    started = time.monotonic()
    down(home)
    assert time.monotonic() - started < 20
    assert all(_gone(pid) for pid in seen_pids), [p for p in seen_pids if not _gone(p)]
    after = json.loads((home / "stack.json").read_text())
    assert not _pids(after)
    for name in [*INFRA, "billing", "dispatcher"]:
        for port in after["processes"][name]["ports"].values():
            assert is_free(port), (name, port)

    # 5. Up after down: same ports, data kept.
    revived = up(home, only=INFRA, env=env)
    for name in INFRA:
        assert revived["processes"][name]["ports"] == doc["processes"][name]["ports"]
    _check_all(revived)
    with _pg(revived) as conn:
        assert conn.execute("select v from marker").fetchall() == [("kept",)]
    down(home, purge=True)
    assert not home.exists()
