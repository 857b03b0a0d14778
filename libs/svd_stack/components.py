"""The components of the dev stack as data: one record per component, in start order.

A `Component` says how to start a process (command, environment, user), how to tell it is
ready, what it contributes to stack.json (`facts`) and to the services' environment (`exports`).
A `Task` is a one-shot step between components (bus topology provisioning). `plan()` builds the table for a shape
(NATS servers, replicas per service); `PLAN` is the plain stack's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import signal
import sys
from collections.abc import Callable
from typing import Any

from svd.bus.topology import PUBLISHES
from svd.grpc.client import target
from svd_stack import checks, grace, nats_server, postgres, seaweed, sim
from svd_stack.env import Exports, merge, overlay
from svd_stack.model import Component, Context, Step, Task
from svd_stack.ports import LOCALHOST

SERVICE_MODULES = ("billing", "media_store", "dispatcher", "still_frame", "video_gateway")

# Secrets generated once per home and kept in stack.json.
SECRET_FACTORIES: dict[str, Callable[[], str]] = {
    # Hex passwords go into URLs unescaped.
    "postgres_password": lambda: secrets.token_hex(24),
    "nats_password": lambda: secrets.token_hex(24),  # the operator's NATS user
    **{f"nats_password_{service}": lambda: secrets.token_hex(24) for service in PUBLISHES},  # each service's
    "nats_route_password": lambda: secrets.token_hex(24),  # cluster routes between NATS nodes
    "s3_access_key": lambda: "SVD" + secrets.token_hex(8).upper(),
    "s3_secret_key": lambda: secrets.token_urlsafe(30),
    "admin_api_key": lambda: "svd_" + secrets.token_urlsafe(32),
    "service_api_key": lambda: "svd_svc_" + secrets.token_urlsafe(32),
    # Fernet key the gateway encrypts provider API keys with at rest (urlsafe base64 of 32 random bytes).
    "provider_key_encryption_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    # Fernet key the dispatcher encrypts webhook signing secrets with at rest.
    "webhook_secret_encryption_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "runway_api_key": lambda: "sim_" + secrets.token_urlsafe(24),
    # fal keys look like "<key id>:<key secret>".
    "fal_api_key": lambda: f"sim{secrets.token_hex(8)}:{secrets.token_urlsafe(24)}",
}


def stack_exports(ctx: Context) -> Exports:
    """Stack-wide defaults for services: accepted API keys (sha256 hex → "*": the operator's admin
    key and the key services such as the dispatcher present to each other), and the latter itself."""
    keys = (ctx.secrets["admin_api_key"], ctx.secrets["service_api_key"])
    accepted = {hashlib.sha256(key.encode()).hexdigest(): "*" for key in keys}
    return Exports(
        defaults={
            "SVD_API_KEYS": json.dumps(accepted),
            "SVD_SERVICE_API_KEY": ctx.secrets["service_api_key"],
            "PROVIDER_KEY_ENCRYPTION_KEY": ctx.secrets["provider_key_encryption_key"],
            "WEBHOOK_SECRET_ENCRYPTION_KEY": ctx.secrets["webhook_secret_encryption_key"],
        }
    )


def _env_layers(ctx: Context, component: Component) -> tuple[dict[str, str], dict[str, str]]:
    """(forced, defaults) the stack sets for `component`'s process."""
    exports = [Exports(forced=component.own_env(ctx))]
    if component.is_service:
        exports = [stack_exports(ctx), *(s.exports(ctx) for s in ctx.plan if isinstance(s, Component)), *exports]
    merged = merge(exports)
    return {**merged.forced, "PYTHONUNBUFFERED": "1"}, dict(merged.defaults)


def child_env(ctx: Context, component: Component) -> dict[str, str]:
    """Environment of `component`'s process: the user's env overlaid per the precedence rules."""
    forced, defaults = _env_layers(ctx, component)
    return overlay(ctx.env, forced=forced, defaults=defaults)


def config_digest(ctx: Context, component: Component) -> str:
    """Fingerprint of the command line and the stack-managed environment (a change means restart)."""
    forced, defaults = _env_layers(ctx, component)
    env = child_env(ctx, component)
    managed = {key: env[key] for key in sorted({*forced, *defaults})}
    payload = json.dumps([component.command(ctx), managed], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --- nats ---------------------------------------------------------------------------------


def nats_names(nodes: int) -> tuple[str, ...]:
    """Component names of the NATS servers: `nats` alone (the plain stack), `nats-1`… for a cluster."""
    return ("nats",) if nodes == 1 else tuple(f"nats-{i}" for i in range(1, nodes + 1))


def _nats_names(ctx: Context) -> list[str]:
    return [step.name for step in ctx.plan if isinstance(step, Component) and step.name.split("-")[0] == "nats"]


def nats_urls(ctx: Context, user: str = nats_server.USER) -> list[str]:
    """Client URLs of every NATS server of the stack, logged in as `user` (the operator's by default)."""
    password = ctx.secrets["nats_password" if user == nats_server.USER else f"nats_password_{user}"]
    return [nats_server.url(LOCALHOST, ctx.port(name, "client"), password, user) for name in _nats_names(ctx)]


def _service_passwords(ctx: Context) -> dict[str, str]:
    return {service: ctx.secrets[f"nats_password_{service}"] for service in PUBLISHES}


def _nats_prepare(ctx: Context, name: str, peers: tuple[str, ...]) -> None:
    cluster = None
    if len(peers) > 1:
        others = [ctx.port(peer, "cluster") for peer in peers if peer != name]
        cluster = nats_server.Cluster(LOCALHOST, ctx.port(name, "cluster"), others, ctx.secrets["nats_route_password"])
    document = nats_server.config(name, ctx.secrets["nats_password"], _service_passwords(ctx), cluster)
    nats_server.write_config(ctx.data(name), document)


def _nats_facts(ctx: Context) -> dict[str, Any]:
    names = _nats_names(ctx)
    urls = nats_urls(ctx)
    return {
        "nats_url": urls[0],
        "nats_urls": urls,
        "nats_monitor_url": f"http://{ctx.addr(names[0], 'monitor')}",
        "nats_monitor_urls": [f"http://{ctx.addr(name, 'monitor')}" for name in names],
    }


def nats_node(name: str, peers: tuple[str, ...] = ("nats",)) -> Component:
    """One NATS server with JetStream; with peers, one node of their cluster."""
    return Component(
        name=name,
        ports=("client", "monitor", *(("cluster",) if len(peers) > 1 else ())),
        prepare=lambda ctx: _nats_prepare(ctx, name, peers),
        command=lambda ctx: nats_server.command(
            ctx.data(name), LOCALHOST, ctx.port(name, "client"), ctx.port(name, "monitor")
        ),
        ready=lambda ctx: checks.http_ok(f"http://{ctx.addr(name, 'monitor')}/healthz?js-enabled-only=true"),
        facts=_nats_facts if name == peers[0] else lambda ctx: {},
        # The operator's URLs; a service is given its own user's (see `service`).
        exports=lambda ctx: Exports(forced={"NATS_URL": ",".join(nats_urls(ctx))}),
        ready_timeout=20.0,
    )


NATS = nats_node("nats")

# --- postgres -----------------------------------------------------------------------------


def _pg_url(ctx: Context) -> str:
    return postgres.url(ctx.port("postgres"), ctx.secrets["postgres_password"])


def _pg_after_ready(ctx: Context) -> None:
    socket_dir, port = ctx.run / "postgres", ctx.port("postgres")
    postgres.secure(ctx.data("postgres"), socket_dir, port, ctx.secrets["postgres_password"])
    postgres.ensure_database(socket_dir, port)


POSTGRES = Component(
    name="postgres",
    prepare=lambda ctx: postgres.prepare(ctx.data("postgres"), ctx.run / "postgres", ctx.log("postgres"), ctx.env),
    command=lambda ctx: postgres.command(ctx.data("postgres"), ctx.port("postgres"), ctx.run / "postgres"),
    user=postgres.system_user,
    # Through the unix socket: TCP needs the password, which `after_ready` sets.
    ready=lambda ctx: checks.postgres_ok(str(ctx.run / "postgres"), ctx.port("postgres")),
    after_ready=_pg_after_ready,
    facts=lambda ctx: {"database_url": _pg_url(ctx)},
    exports=lambda ctx: Exports(forced={"DATABASE_URL": _pg_url(ctx)}),
    stop_signal=signal.SIGINT,  # "fast shutdown", sent to the postmaster only
    signal_group=False,
)

# --- s3 (SeaweedFS) -----------------------------------------------------------------------


def _s3_facts(ctx: Context) -> dict[str, Any]:
    return {
        "s3_endpoint": f"http://{ctx.addr('s3', 's3')}",
        "s3_bucket": seaweed.BUCKET,
        "s3_access_key": ctx.secrets["s3_access_key"],
        "s3_secret_key": ctx.secrets["s3_secret_key"],
        "s3_region": seaweed.REGION,
    }


def _s3_ready(ctx: Context) -> bool:
    facts = _s3_facts(ctx)
    return checks.http_ok(f"http://{ctx.addr('s3', 'master')}/cluster/healthz") and checks.s3_ok(
        facts["s3_endpoint"], facts["s3_access_key"], facts["s3_secret_key"], seaweed.REGION
    )


def _s3_prepare(ctx: Context) -> None:
    seaweed.write_config(ctx.data("s3") / "config", ctx.secrets["s3_access_key"], ctx.secrets["s3_secret_key"])
    (ctx.run / "s3").mkdir(parents=True, exist_ok=True)


def _s3_exports(ctx: Context) -> Exports:
    facts = _s3_facts(ctx)
    return Exports(
        forced={
            "DO_SPACES_KEY": facts["s3_access_key"],
            "DO_SPACES_SECRET": facts["s3_secret_key"],
            "DO_SPACES_BUCKET": facts["s3_bucket"],
            "DO_SPACES_ENDPOINT": facts["s3_endpoint"],
            "DO_SPACES_REGION": facts["s3_region"],
        }
    )


S3 = Component(
    name="s3",
    ports=seaweed.PORTS,
    prepare=_s3_prepare,
    command=lambda ctx: seaweed.command(ctx.data("s3"), ctx.run / "s3", dict(ctx.ports["s3"])),
    ready=_s3_ready,
    after_ready=lambda ctx: seaweed.ensure_bucket(
        f"http://{ctx.addr('s3', 's3')}", ctx.secrets["s3_access_key"], ctx.secrets["s3_secret_key"]
    ),
    after_stop=lambda ctx: seaweed.remove_stray_sockets(dict(ctx.ports["s3"])),
    facts=_s3_facts,
    exports=_s3_exports,
    ready_timeout=60.0,
    # On SIGTERM weed's filer waits 15 s for its own metadata-subscription streams to drain.
    # A SIGKILL after a short grace loses nothing: volume files and the filer's leveldb journal
    # are written through on every request.
    stop_timeout=2.0,
)

# --- provider simulator -------------------------------------------------------------------


def _sim_url(ctx: Context) -> str:
    return f"http://{ctx.addr('provider-sim')}"


def _fal_host(ctx: Context) -> str:
    return ctx.addr("provider-sim", "tls")


def _sim_facts(ctx: Context) -> dict[str, Any]:
    return {
        "provider_sim_url": _sim_url(ctx),  # control plane: /_sim/faults, /_sim/keys, /_sim/requests, /_sim/tasks
        "sim_providers": list(sim.simulated(ctx.env)),
        "runway_base_url": _sim_url(ctx),
        "runway_api_key": ctx.secrets["runway_api_key"],
        "fal_queue_host": _fal_host(ctx),
        "fal_api_key": ctx.secrets["fal_api_key"],
        "sim_ca_bundle": str(sim.ca_bundle(ctx.data("provider-sim"))),
    }


def _sim_exports(ctx: Context) -> Exports:
    providers = sim.simulated(ctx.env)
    forced: dict[str, str] = {}
    # Keys are defaults: a user's own keys for a simulated provider win, and the simulator accepts them.
    # Checks every second instead of every 30 s: the window is kept about as wide as production's (15 x 30 s) in
    # attempts, so a render on a busy two-core machine (a 720x1280 clip took over 16 s under load) is not given up.
    defaults = {"VIDEO_POLL_INITIAL_DELAY_S": "2", "VIDEO_POLL_INTERVAL_S": "1", "VIDEO_POLL_MAX_ATTEMPTS": "300"}
    if "runway" in providers:
        forced["RUNWAY_BASE_URL"] = _sim_url(ctx)
        defaults["RUNWAY_API_KEY"] = ctx.secrets["runway_api_key"]
    if "kling" in providers:
        # fal-client reads its queue host from FAL_QUEUE_RUN_HOST and verifies TLS like httpx: SSL_CERT_FILE.
        forced["FAL_QUEUE_RUN_HOST"] = _fal_host(ctx)
        forced["SSL_CERT_FILE"] = str(sim.ca_bundle(ctx.data("provider-sim")))
        defaults["FAL_API_KEY"] = ctx.secrets["fal_api_key"]
    # media-store downloads the simulator's outputs from loopback (http for runway, https for kling).
    defaults["DOWNLOAD_ALLOW_LOOPBACK_HTTP"] = "true"
    defaults["DOWNLOAD_ALLOWED_HOSTS"] = json.dumps({p: [LOCALHOST, "localhost"] for p in ("runway", "kling")})
    return Exports(forced=forced, defaults=defaults)


def _sim_ready(ctx: Context) -> bool:
    if not checks.http_ok(f"{_sim_url(ctx)}/healthz"):
        return False
    return sim.tls_ok(f"https://{_fal_host(ctx)}/healthz", sim.ca_bundle(ctx.data("provider-sim")))


PROVIDER_SIM = Component(
    name="provider-sim",
    ports=("main", "tls"),
    enabled=lambda env: bool(sim.simulated(env)),
    command=lambda ctx: [
        sys.executable,
        "-m",
        "provider_sim",
        "--host",
        LOCALHOST,
        "--port",
        str(ctx.port("provider-sim", "main")),
        "--tls-port",
        str(ctx.port("provider-sim", "tls")),
        "--tls-dir",
        str(sim.tls_dir(ctx.data("provider-sim"))),
    ],
    own_env=lambda ctx: {
        "PROVIDER_SIM_RUNWAY_KEYS": sim.accepted_keys(ctx.env, "runway", ctx.secrets["runway_api_key"]),
        "PROVIDER_SIM_FAL_KEYS": sim.accepted_keys(ctx.env, "kling", ctx.secrets["fal_api_key"]),
        # As the real API: a ratio the model does not render is a 400 (the gateway only sends its table's ratios).
        "PROVIDER_SIM_STRICT_RATIOS": ctx.env.get("PROVIDER_SIM_STRICT_RATIOS", "true"),
    },
    ready=_sim_ready,
    facts=_sim_facts,
    exports=_sim_exports,
    in_data_dir=False,
)

# --- bus topology -------------------------------------------------------------------------


def stream_replicas(ctx: Context) -> int:
    """`NATS_STREAM_REPLICAS` if the user set it, else one replica per NATS server (at most 3)."""
    return int(ctx.env.get("NATS_STREAM_REPLICAS") or min(len(_nats_names(ctx)), 3))


def provision_topology(ctx: Context) -> None:
    """Create or update the JetStream streams/consumers (owned by `svd.bus.topology`), as the operator."""
    from svd.bus.provision import provision  # lazy: a stack without the bus code runs the rest

    asyncio.run(provision(nats_urls(ctx), stream_replicas(ctx)))


TOPOLOGY = Task(name="topology", run=provision_topology)

# --- the Python services ------------------------------------------------------------------

_TARGET_VARS = {"billing": "BILLING_GRPC_TARGET", "media_store": "MEDIA_GRPC_TARGET"}
# Services that serve Connect (HTTP/1.1) beside gRPC on a port of their own; the dispatcher's serves the console too.
HTTP_SERVICES = ("dispatcher", "media_store", "billing")


def instance_names(name: str, replicas: int) -> tuple[str, ...]:
    """Component names of a service's replicas: `name` alone, or `name-1`… when it is replicated."""
    return (name,) if replicas == 1 else tuple(f"{name}-{i}" for i in range(1, replicas + 1))


def _first(ctx: Context, name: str) -> str | None:
    """The component name of a service's first replica (the console's, or the one it shows media from); None when
    the stack runs no such service (a partial plan)."""
    return next((instance for instance in (name, f"{name}-1") if instance in ctx.ports), None)


def _service_env(ctx: Context, instance: str, user: str) -> dict[str, str]:
    env = {
        "GRPC_LISTEN": ctx.addr(instance),
        "METRICS_HOST": LOCALHOST,
        "METRICS_PORT": str(ctx.port(instance, "metrics")),
    }
    if "http" in ctx.ports[instance]:
        env["HTTP_LISTEN"] = ctx.addr(instance, "http")
        # The console (the dispatcher's HTTP listener) shows media from media-store's, which lets its page call it.
        dispatcher, media_store = _first(ctx, "dispatcher"), _first(ctx, "media_store")
        if instance.startswith("dispatcher"):
            if media_store is not None:
                env["CONSOLE_MEDIA_URL"] = f"http://{ctx.addr(media_store, 'http')}"
        elif dispatcher is not None:
            env["HTTP_CORS_ORIGINS"] = json.dumps([f"http://{ctx.addr(dispatcher, 'http')}"])
    if f"nats_password_{user}" in ctx.secrets:  # a service of the topology logs in to NATS as itself
        env["NATS_URL"] = ",".join(nats_urls(ctx, user))
    return env


def service(
    name: str, module: str | None = None, ready_timeout: float = 60.0, *, replica: int = 1, replicas: int = 1
) -> Component:
    """Replica `replica` of `replicas` of a gRPC service run as `python -m <module>`, listening on GRPC_LISTEN
    (always 127.0.0.1, a port of its own), health-checked, logged in to NATS as its own user (`svd.bus.permissions`),
    with its Prometheus scrape endpoint on METRICS_PORT (a port of its own; stack.json's `metrics`: process → URL).
    Its peers reach all its replicas: their target lists every address (`svd.grpc.client.target`).

    `svd down` gives it its shutdown grace to drain (see `svd_stack.grace`)."""
    target_var = _TARGET_VARS.get(name)
    instances = instance_names(name, replicas)
    instance = instances[replica - 1]
    user = name.replace("_", "-")

    def stop_wait(ctx: Context) -> float:
        return grace.stop_wait(module or name, child_env(ctx, component))

    def addresses(ctx: Context, which: str | None = None) -> str | list[str]:
        found = [ctx.addr(each, which) for each in instances]
        return found[0] if replicas == 1 else found

    def facts(ctx: Context) -> dict[str, Any]:
        found: dict[str, Any] = {
            "grpc": {name: addresses(ctx)},
            "metrics": {instance: f"http://{ctx.addr(instance, 'metrics')}/metrics"},
        }
        if name in HTTP_SERVICES:
            found["http"] = {name: addresses(ctx, "http")}
        if name == "dispatcher":
            found["console_url"] = f"http://{ctx.addr(instances[0], 'http')}/"
        return found

    component = Component(
        name=instance,
        ports=("grpc", "metrics", "http") if name in HTTP_SERVICES else ("grpc", "metrics"),
        command=lambda ctx: [sys.executable, "-m", module or name],
        own_env=lambda ctx: _service_env(ctx, instance, user),
        ready=lambda ctx: checks.grpc_serving(ctx.addr(instance)),
        facts=facts,
        exports=lambda ctx: Exports(defaults={target_var: target(addresses(ctx))} if target_var else {}),
        is_service=True,
        in_data_dir=False,
        ready_timeout=ready_timeout,
        stop_wait=stop_wait,
        replica_of=name if replicas > 1 else "",
    )
    return component


def services(replicas: int = 1) -> tuple[Component, ...]:
    """Every service, `replicas` of each, in start order (billing and media_store before the dispatcher)."""
    return tuple(
        service(name, replica=i, replicas=replicas) for name in SERVICE_MODULES for i in range(1, replicas + 1)
    )


def plan(nats_cluster: int = 1, replicas: int = 1) -> tuple[Step, ...]:
    """The stack's steps in start order (`svd down` stops in reverse): `nats_cluster` NATS servers, the
    infrastructure, the topology, and `replicas` of each service."""
    names = nats_names(nats_cluster)
    nodes = tuple(nats_node(node, names) for node in names)
    return (*nodes, POSTGRES, S3, PROVIDER_SIM, TOPOLOGY, *services(replicas))


SERVICES = services()
PLAN: tuple[Step, ...] = plan()
