"""Environment overlay precedence and what the services receive from the stack."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from svd_stack import seaweed
from svd_stack.components import PLAN, SERVICE_MODULES, Component, Context, child_env, config_digest
from svd_stack.env import overlay

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
    "fal_api_key": "sim-fal-id:secret",
    "nats_password_dispatcher": "dispatcherpw",
}


def _context(env: dict[str, str], postgres_port: int = 5432) -> Context:
    ports = {
        "nats": {"client": 4222, "monitor": 8222},
        "postgres": {"main": postgres_port},
        "s3": {name: 9000 + i for i, name in enumerate(seaweed.PORTS)},
        "provider-sim": {"main": 8089, "tls": 8443},
        "billing": {"grpc": 5001, "metrics": 9461},
        "media_store": {"grpc": 5002, "metrics": 9462},
        "dispatcher": {"grpc": 5003, "metrics": 9463},
        "still_frame": {"grpc": 5004, "metrics": 9464},
        "video_gateway": {"grpc": 5005, "metrics": 9465},
    }
    plan = tuple(step for step in PLAN if step.enabled(env))
    return Context(home=Path("/tmp/svd-env-test"), env=env, ports=ports, secrets=SECRETS, plan=plan)


def _component(name: str) -> Component:
    return next(s for s in PLAN if isinstance(s, Component) and s.name == name)


def test_overlay_precedence() -> None:
    env = overlay(
        {"USER_ONLY": "u", "BOTH": "user", "FORCED": "user"},
        forced={"FORCED": "stack"},
        defaults={"BOTH": "default", "DEFAULT_ONLY": "d"},
    )
    assert env == {"USER_ONLY": "u", "BOTH": "user", "FORCED": "stack", "DEFAULT_ONLY": "d"}


def test_service_env_connection_vars_are_forced_other_defaults_yield_to_the_user() -> None:
    user = {
        "NATS_URL": "nats://elsewhere:1",
        "DO_SPACES_BUCKET": "prod-bucket",
        "VIDEO_POLL_INTERVAL_S": "7",
        "BILLING_GRPC_TARGET": "billing.example:443",
        "OTEL_SERVICE_NAME": "kept",
    }
    env = child_env(_context(user), _component("dispatcher"))
    assert env["NATS_URL"] == "nats://dispatcher:dispatcherpw@127.0.0.1:4222"  # its own NATS user
    assert env["DATABASE_URL"] == "postgresql+psycopg://postgres:pgpw@127.0.0.1:5432/svd"
    assert env["GRPC_LISTEN"] == "127.0.0.1:5003"
    assert (env["METRICS_HOST"], env["METRICS_PORT"]) == ("127.0.0.1", "9463")  # its own scrape port
    assert env["DO_SPACES_BUCKET"] == "svd-media"
    assert env["DO_SPACES_ENDPOINT"] == "http://127.0.0.1:9000"
    assert (env["DO_SPACES_KEY"], env["DO_SPACES_SECRET"], env["DO_SPACES_REGION"]) == ("AK", "SK", "us-east-1")
    assert env["VIDEO_POLL_INTERVAL_S"] == "7"  # the user's value wins over the dev default
    assert env["VIDEO_POLL_INITIAL_DELAY_S"] == "2"
    assert env["VIDEO_POLL_MAX_ATTEMPTS"] == "300"  # a window of minutes at one check a second
    assert env["BILLING_GRPC_TARGET"] == "billing.example:443"
    assert env["MEDIA_GRPC_TARGET"] == "127.0.0.1:5002"
    assert env["RUNWAY_BASE_URL"] == "http://127.0.0.1:8089"
    assert env["RUNWAY_API_KEY"] == "sim-key"
    assert env["OTEL_SERVICE_NAME"] == "kept"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["SVD_SERVICE_API_KEY"] == "service-key"
    accepted = json.loads(env["SVD_API_KEYS"])
    assert accepted[hashlib.sha256(b"admin-key").hexdigest()] == "*"
    assert accepted[hashlib.sha256(b"service-key").hexdigest()] == "*"


def test_real_runway_key_disables_the_simulator() -> None:
    user = {"RUNWAY_API_KEY": "real-key"}
    ctx = _context(user)
    assert "provider-sim" not in {step.name for step in ctx.plan}
    env = child_env(ctx, _component("video_gateway"))
    assert env["RUNWAY_API_KEY"] == "real-key"
    assert "RUNWAY_BASE_URL" not in env
    assert "VIDEO_POLL_INTERVAL_S" not in env


def test_simulator_gets_its_key_and_infra_gets_no_service_env() -> None:
    ctx = _context({})
    sim_env = child_env(ctx, _component("provider-sim"))
    assert sim_env["PROVIDER_SIM_RUNWAY_KEYS"] == "sim-key"
    assert "NATS_URL" not in child_env(ctx, _component("nats"))


def test_config_digest_changes_when_a_dependency_moves() -> None:
    dispatcher = _component("dispatcher")
    assert config_digest(_context({}), dispatcher) == config_digest(_context({"UNRELATED": "x"}), dispatcher)
    assert config_digest(_context({}), dispatcher) != config_digest(_context({}, postgres_port=6543), dispatcher)


def test_every_service_listens_on_loopback_whatever_the_user_set() -> None:
    # The services' own default is every interface ([::]) without TLS: the dev stack must never inherit it.
    ctx = _context({"GRPC_LISTEN": "[::]:50051"})
    for name in SERVICE_MODULES:
        assert child_env(ctx, _component(name))["GRPC_LISTEN"] == f"127.0.0.1:{ctx.port(name)}"
