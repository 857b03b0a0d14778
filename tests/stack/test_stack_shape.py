"""The shape of a replicated stack (`svd up --nats-cluster 3 --replicas 2`) as data: names, ports, what each replica
and each NATS node is given. The stack itself runs in tests/reliability/test_replicated.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from svd.bus import permissions
from svd_stack import nats_server
from svd_stack.components import SECRET_FACTORIES, Component, Context, child_env, plan, stream_replicas
from svd_stack.stack import _batches

SECRETS = {key: f"{key}-secret" for key in SECRET_FACTORIES}


def _context(nodes: int, replicas: int, env: dict[str, str] | None = None) -> Context:
    steps = tuple(step for step in plan(nodes, replicas) if step.enabled(env or {}))
    ports: dict[str, dict[str, int]] = {}
    next_port = iter(range(20000, 21000))
    for step in steps:
        if isinstance(step, Component):
            ports[step.name] = {which: next(next_port) for which in step.ports}
    return Context(home=Path("/nonexistent"), env=env or {}, ports=ports, secrets=SECRETS, plan=steps)


def _component(ctx: Context, name: str) -> Component:
    return next(step for step in ctx.plan if isinstance(step, Component) and step.name == name)


def test_the_plain_stack_keeps_its_names() -> None:
    names = [step.name for step in plan()]
    assert names[:1] == ["nats"] and {"dispatcher", "billing", "media_store", "still_frame", "video_gateway"} <= {
        *names
    }


def test_a_replicated_stack_names_every_process_and_starts_replicas_together() -> None:
    ctx = _context(3, 2)
    names = [step.name for step in ctx.plan]
    assert names[:3] == ["nats-1", "nats-2", "nats-3"]
    for service in ("billing", "media_store", "dispatcher", "still_frame", "video_gateway"):
        assert f"{service}-1" in names and f"{service}-2" in names and service not in names
    batches = [[step.name for step in batch] for batch in _batches(ctx.plan)]
    assert ["dispatcher-1", "dispatcher-2"] in batches and ["nats-1"] in batches
    assert stream_replicas(ctx) == 3 and stream_replicas(_context(3, 2, {"NATS_STREAM_REPLICAS": "1"})) == 1


def test_each_replica_listens_on_its_own_port_and_peers_balance_over_all() -> None:
    ctx = _context(3, 2)
    env1 = child_env(ctx, _component(ctx, "dispatcher-1"))
    env2 = child_env(ctx, _component(ctx, "dispatcher-2"))
    assert env1["GRPC_LISTEN"] != env2["GRPC_LISTEN"]
    billing = [ctx.addr("billing-1"), ctx.addr("billing-2")]
    assert env1["BILLING_GRPC_TARGET"] == env2["BILLING_GRPC_TARGET"] == "ipv4:" + ",".join(billing)
    facts = _component(ctx, "billing-1").facts(ctx)
    assert facts["grpc"] == {"billing": billing}
    assert facts["metrics"] == {"billing-1": f"http://{ctx.addr('billing-1', 'metrics')}/metrics"}
    assert env1["METRICS_PORT"] != env2["METRICS_PORT"]  # each replica its own scrape endpoint


def test_services_log_in_as_themselves_on_every_node() -> None:
    ctx = _context(3, 2)
    env = child_env(ctx, _component(ctx, "still_frame-2"))
    urls = env["NATS_URL"].split(",")
    password = SECRETS["nats_password_still-frame"]
    assert urls == [
        f"nats://still-frame:{password}@{ctx.addr(node, 'client')}" for node in ("nats-1", "nats-2", "nats-3")
    ]


@pytest.mark.parametrize("node", ["nats-1", "nats-2", "nats-3"])
def test_every_node_routes_to_its_peers_and_carries_the_permission_table(node: str, tmp_path: Path) -> None:
    ctx = _context(3, 2)
    ctx = Context(home=tmp_path, env=ctx.env, ports=ctx.ports, secrets=ctx.secrets, plan=ctx.plan)
    _component(ctx, node).prepare(ctx)
    import json

    config = json.loads((ctx.data(node) / nats_server.CONFIG).read_text())
    assert config["server_name"] == node
    peers = sorted(ctx.port(other, "cluster") for other in ("nats-1", "nats-2", "nats-3") if other != node)
    assert sorted(int(route.rsplit(":", 1)[1]) for route in config["cluster"]["routes"]) == peers
    assert config["cluster"]["listen"] == ctx.addr(node, "cluster")
    users = {user["user"]: user for user in config["authorization"]["users"]}
    assert "permissions" not in users[nats_server.USER]  # the operator provisions streams
    assert users["media-store"]["permissions"] == permissions.of("media-store").nats_config()


def test_the_permission_table_gives_each_service_only_its_own_subjects() -> None:
    table = permissions.table()
    owners = {subject: name for name, rights in table.items() for subject in rights.publish}
    # Only media-store publishes video.stored; the dispatcher may replay a dead-lettered one (Operations).
    assert [name for name, rights in table.items() if "video.stored" in rights.publish] == ["dispatcher", "media-store"]
    assert "video.stored" not in table["still-frame"].publish
    assert "$JS.API.CONSUMER.MSG.NEXT.VIDEO.still-frame-design-requested" in table["still-frame"].publish
    assert owners["$JS.API.CONSUMER.MSG.NEXT.VIDEO.media-store-ready"] == "media-store"
    for name, rights in table.items():
        assert rights.subscribe == (f"_INBOX.{name}.>",)  # its own replies only, never `>` or a stream's subjects
        stream_requests = [subject for subject in rights.publish if subject.startswith("$JS.API.STREAM")]
        if name == permissions.OPERATIONS_HOST:  # reading, looking up and purging dead letters, nothing else
            assert sorted(stream_requests) == [
                "$JS.API.STREAM.INFO.DEAD_LETTER",
                "$JS.API.STREAM.MSG.GET.DEAD_LETTER",
                "$JS.API.STREAM.PURGE.DEAD_LETTER",
            ]
        else:
            assert not stream_requests, name
