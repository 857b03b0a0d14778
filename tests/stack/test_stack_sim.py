"""What the stack exports for the provider simulator: which providers it stands in for, keys, fal host, TLS trust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from svd_stack import seaweed, sim
from svd_stack.checks import plain_http
from svd_stack.components import PLAN, Component, Context, child_env
from tests.conftest import svd

SECRETS = {
    "postgres_password": "pgpw",
    "nats_password": "natspw",
    "s3_access_key": "AK",
    "s3_secret_key": "SK",
    "admin_api_key": "admin-key",
    "service_api_key": "service-key",
    "provider_key_encryption_key": "kek",
    "webhook_secret_encryption_key": "webhook-kek",
    "runway_api_key": "sim-key",
    "fal_api_key": "simid:secret",
}
HOME = Path("/tmp/svd-sim-test")


def _context(env: dict[str, str]) -> Context:
    ports = {
        "nats": {"client": 4222, "monitor": 8222},
        "postgres": {"main": 5432},
        "s3": {name: 9000 + i for i, name in enumerate(seaweed.PORTS)},
        "provider-sim": {"main": 8089, "tls": 8443},
        "billing": {"grpc": 5001, "metrics": 9001},
        "media_store": {"grpc": 5002, "metrics": 9002},
        "dispatcher": {"grpc": 5003, "metrics": 9003},
        "still_frame": {"grpc": 5004, "metrics": 9004},
        "video_gateway": {"grpc": 5005, "metrics": 9005},
    }
    plan = tuple(step for step in PLAN if step.enabled(env))
    return Context(home=HOME, env=env, ports=ports, secrets=SECRETS, plan=plan)


def _component(name: str) -> Component:
    return next(s for s in PLAN if isinstance(s, Component) and s.name == name)


def test_default_simulates_both_and_exports_fal_host_key_and_trust() -> None:
    ctx = _context({})
    env = child_env(ctx, _component("video_gateway"))
    assert env["RUNWAY_BASE_URL"] == "http://127.0.0.1:8089" and env["RUNWAY_API_KEY"] == "sim-key"
    assert env["FAL_API_KEY"] == "simid:secret"
    assert env["FAL_QUEUE_RUN_HOST"] == "127.0.0.1:8443"
    assert env["SSL_CERT_FILE"] == str(HOME / "data" / "provider-sim" / "tls" / "ca-bundle.pem")
    sim_env = child_env(ctx, _component("provider-sim"))
    assert sim_env["PROVIDER_SIM_RUNWAY_KEYS"] == "sim-key"
    assert sim_env["PROVIDER_SIM_FAL_KEYS"] == "simid:secret"
    assert sim_env["PROVIDER_SIM_STRICT_RATIOS"] == "true"  # a ratio the model does not render is a 400, as on Runway
    assert (
        child_env(_context({"PROVIDER_SIM_STRICT_RATIOS": "false"}), _component("provider-sim"))[
            "PROVIDER_SIM_STRICT_RATIOS"
        ]
        == "false"
    )
    command = _component("provider-sim").command(ctx)
    assert command[command.index("--tls-port") + 1] == "8443"


def test_kling_only() -> None:
    ctx = _context({"SVD_SIM_PROVIDERS": "kling"})
    env = child_env(ctx, _component("video_gateway"))
    assert "RUNWAY_API_KEY" not in env and "RUNWAY_BASE_URL" not in env
    assert env["FAL_API_KEY"] == "simid:secret" and env["FAL_QUEUE_RUN_HOST"] == "127.0.0.1:8443"


def test_runway_only_leaves_trust_and_fal_alone() -> None:
    ctx = _context({"SVD_SIM_PROVIDERS": "runway", "SSL_CERT_FILE": "/etc/corp.pem"})
    env = child_env(ctx, _component("video_gateway"))
    assert env["RUNWAY_API_KEY"] == "sim-key"
    assert "FAL_API_KEY" not in env and "FAL_QUEUE_RUN_HOST" not in env
    assert env["SSL_CERT_FILE"] == "/etc/corp.pem"


def test_a_real_key_turns_simulation_off_unless_asked_for() -> None:
    assert sim.simulated({"FAL_API_KEY": "real"}) == ()
    assert sim.simulated({"RUNWAY_API_KEYS": "a,b"}) == ()
    assert "provider-sim" not in {s.name for s in _context({"FAL_API_KEY": "real"}).plan}
    assert sim.simulated({"FAL_API_KEY": "real", "SVD_SIM_PROVIDERS": "fal, runway"}) == ("runway", "kling")
    assert sim.simulated({"SVD_SIM_PROVIDERS": "none"}) == ()
    with pytest.raises(sim.SimConfigError):
        sim.simulated({"SVD_SIM_PROVIDERS": "openai"})


def test_user_key_pool_is_accepted_by_the_simulator_and_wins_for_services() -> None:
    user = {"SVD_SIM_PROVIDERS": "runway,kling", "RUNWAY_API_KEYS": "r1, r2", "FAL_API_KEY": "f1:s"}
    ctx = _context(user)
    sim_env = child_env(ctx, _component("provider-sim"))
    assert sim_env["PROVIDER_SIM_RUNWAY_KEYS"] == "sim-key,r1,r2"
    assert sim_env["PROVIDER_SIM_FAL_KEYS"] == "simid:secret,f1:s"
    env = child_env(ctx, _component("video_gateway"))
    assert env["FAL_API_KEY"] == "f1:s" and env["RUNWAY_API_KEYS"] == "r1, r2"
    assert env["RUNWAY_BASE_URL"] == "http://127.0.0.1:8089"  # forced: a simulated provider is the simulator


def test_kling_only_stack_serves_fal_over_tls_to_the_real_client(tmp_path: Path) -> None:
    """`svd up` with SVD_SIM_PROVIDERS=kling: fal-client, given only what the stack exports, completes a request."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWAY_", "FAL_", "SSL_CERT"))}
    env["SVD_SIM_PROVIDERS"] = "kling"
    up = svd("up", "--home", str(home), "--only", "provider-sim", env=env, timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        doc = json.loads((home / "stack.json").read_text())
        assert doc["sim_providers"] == ["kling"]
        assert plain_http().get(f"{doc['provider_sim_url']}/_sim/keys").json()["keys"]["fal"]["accepted"] == [
            doc["fal_api_key"]
        ]
        script = (
            "import fal_client\n"
            "handle = fal_client.submit('fal-ai/kling-video/v1.6/standard/image-to-video',"
            " {'prompt': 'zoom in', 'image_url': 'data:image/png;base64,"
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC'})\n"
            "print(handle.get(interval=0.1)['video']['url'])\n"
        )
        client_env = {
            **env,
            "FAL_QUEUE_RUN_HOST": doc["fal_queue_host"],
            "SSL_CERT_FILE": doc["sim_ca_bundle"],
            "FAL_KEY": doc["fal_api_key"],
        }
        done = subprocess.run(
            [sys.executable, "-c", script], env=client_env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"https://{doc['fal_queue_host']}/outputs/")
    finally:
        svd("down", "--home", str(home), env=env, timeout=120)
