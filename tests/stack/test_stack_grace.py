"""`svd down` lets each service drain for its own shutdown grace before SIGKILL, and no longer when it is idle."""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

import pytest

from billing.settings import BillingSettings
from dispatcher.settings import DispatcherSettings
from media_store.settings import MediaSettings
from still_frame.settings import StillFrameSettings
from svd.settings import BaseServiceSettings
from svd_stack import down, grace, procs, up
from svd_stack.components import SECRET_FACTORIES, SERVICES, Context, service
from video_gateway.settings import GatewaySettings

HERE = Path(__file__).resolve().parent
OWN_SETTINGS = {
    "billing": BillingSettings,
    "media_store": MediaSettings,
    "dispatcher": DispatcherSettings,
    "still_frame": StillFrameSettings,
    "video_gateway": GatewaySettings,
}


def test_each_service_waits_for_its_own_settings_default_plus_a_margin() -> None:
    ports = {comp.name: {"grpc": 5001 + i, "metrics": 9461 + i} for i, comp in enumerate(SERVICES)}
    secrets = {key: make() for key, make in SECRET_FACTORIES.items()}
    ctx = Context(home=Path("/nonexistent"), env={}, ports=ports, secrets=secrets, plan=SERVICES)
    for component in SERVICES:
        own = OWN_SETTINGS[component.name].model_fields["shutdown_grace_s"].default
        assert component.stop_after(ctx) == own + grace.MARGIN_S, component.name


def test_a_service_that_raises_its_grace_gets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class SlowSettings(BaseServiceSettings):
        shutdown_grace_s: float = 150.0

    package, settings = types.ModuleType("slow_svc"), types.ModuleType("slow_svc.settings")
    SlowSettings.__module__ = settings.__name__
    settings.SlowSettings = SlowSettings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "slow_svc", package)
    monkeypatch.setitem(sys.modules, "slow_svc.settings", settings)
    assert grace.grace("slow_svc", {}) == 150.0
    assert grace.grace("slow_svc", {"SHUTDOWN_GRACE_S": "2.5"}) == 2.5  # the environment the service starts with
    assert grace.grace("slow_svc", {"shutdown_grace_s": "4"}) == 4.0  # pydantic-settings reads any case
    assert grace.grace("no_such_module", {}) == grace.FALLBACK_GRACE_S


def test_down_waits_for_a_service_that_is_still_draining(tmp_path: Path) -> None:
    # Drains for longer than the fixed 10 s `down` used to allow: it must still end on its own, not by SIGKILL.
    env = {**os.environ, "FAKE_SERVICE_DRAIN_S": "12", "SHUTDOWN_GRACE_S": "20"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    plan = [service("draining", "fake_service")]
    doc = up(tmp_path, plan=plan, env=env)
    record = doc["processes"]["draining"]
    assert record["stop_after"] == 20 + grace.MARGIN_S
    started = time.monotonic()
    try:
        down(tmp_path, plan=plan)
    finally:
        procs.stop(record["pid"], record["cmdline"], timeout=1)
    assert time.monotonic() - started >= 12
    assert procs.tail(Path(record["log"])).splitlines()[-1] == "drained"


def test_down_of_an_idle_service_is_quick(tmp_path: Path) -> None:
    env = {**os.environ, "SHUTDOWN_GRACE_S": "300"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    plan = [service("idle", "fake_service")]
    up(tmp_path, plan=plan, env=env)
    started = time.monotonic()
    down(tmp_path, plan=plan)
    assert time.monotonic() - started < 60  # the grace is an upper bound, not a wait
