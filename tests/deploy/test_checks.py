"""Each manifest check finds the fault it exists for: run on a copy of the production overlay broken one way."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from svd_stack.grace import stop_wait
from tests.deploy import checks
from tests.deploy.manifests import K8S, Doc, Rendered, pod_spec, render
from tests.deploy.test_manifests import DOCUMENTED_SECRETS

ENDPOINT = "nats-headless.svd.svc.cluster.local:8222"


@pytest.fixture(scope="module")
def production() -> Rendered:
    return Rendered("production", render(K8S / "overlays" / "production"))


def broken(production: Rendered, kind: str, name: str, damage: Callable[[Doc], object]) -> Rendered:
    docs = copy.deepcopy(production.docs)
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            damage(doc)
            return Rendered("broken", docs)
    raise KeyError(f"no {kind} {name}")


def container(doc: Doc) -> Doc:
    return pod_spec(doc)["containers"][0]


def _set(target: Doc, key: str, value: object) -> None:
    target[key] = value


def _trigger(doc: Doc, **meta: str) -> None:
    doc["spec"]["triggers"][0]["metadata"].update(meta)


CASES: list[tuple[str, Callable[[Rendered], list[str]], str, str, Callable[[Doc], object]]] = [
    ("wrong module", checks.services_present, "Deployment", "billing", lambda d: _set(container(d), "args", ["x"])),
    (
        "second image",
        checks.one_image,
        "Deployment",
        "billing",
        lambda d: pod_spec(d)["containers"][0].update(image="other:1"),
    ),
    (
        "http probe",
        checks.deployments_hardened,
        "Deployment",
        "media-store",
        lambda d: pod_spec(d)["containers"][0].update(livenessProbe={"httpGet": {"port": 8080}}),
    ),
    (
        "probe on the TLS port",
        checks.deployments_hardened,
        "ConfigMap",
        "svd-config",
        lambda d: d["data"].pop("GRPC_HEALTH_LISTEN"),
    ),
    (
        "no requests",
        checks.deployments_hardened,
        "Deployment",
        "dispatcher",
        lambda d: pod_spec(d)["containers"][0]["resources"].pop("requests"),
    ),
    (
        "root allowed",
        checks.deployments_hardened,
        "Deployment",
        "still-frame",
        lambda d: pod_spec(d)["securityContext"].pop("runAsNonRoot"),
    ),
    (
        "writable root",
        checks.deployments_hardened,
        "Deployment",
        "billing",
        lambda d: pod_spec(d)["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
    ),
    (
        "inline secret",
        checks.configured_from_one_configmap,
        "Deployment",
        "video-gateway",
        lambda d: pod_spec(d)["containers"][0]["env"].append({"name": "RUNWAY_API_KEYS", "value": "key_123"}),
    ),
    (
        "undocumented secret key",
        lambda r: checks.secret_refs(r, DOCUMENTED_SECRETS),
        "Deployment",
        "video-gateway",
        lambda d: pod_spec(d)["containers"][0]["env"].append(
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "svd-secrets", "key": "NOT_DOCUMENTED"}}}
        ),
    ),
    (
        "metrics port moved",
        checks.metrics_scrapable,
        "ConfigMap",
        "svd-config",
        lambda d: d["data"].update(METRICS_PORT="9100"),
    ),
    (
        "target not headless",
        checks.grpc_targets_headless,
        "Service",
        "billing",
        lambda d: d["spec"].pop("clusterIP"),
    ),
    (
        "short termination grace",
        lambda r: checks.shutdown_grace(r, stop_wait),
        "Deployment",
        "video-gateway",
        lambda d: pod_spec(d).update(terminationGracePeriodSeconds=30),
    ),
    (
        "HPA on a ScaledObject's workload",
        checks.autoscaling,
        "HorizontalPodAutoscaler",
        "billing",
        lambda d: d["spec"]["scaleTargetRef"].update(name="media-store"),
    ),
    (
        "lag without CPU",
        checks.autoscaling,
        "ScaledObject",
        "still-frame",
        lambda d: d["spec"].update(triggers=d["spec"]["triggers"][:1]),
    ),
    (
        "unknown durable",
        lambda r: checks.jetstream_triggers(r, ENDPOINT),
        "ScaledObject",
        "media-store",
        lambda d: _trigger(d, consumer="media-store-gone"),
    ),
    (
        "durable on another stream",
        lambda r: checks.jetstream_triggers(r, ENDPOINT),
        "ScaledObject",
        "media-store",
        lambda d: _trigger(d, stream="SOCIAL"),
    ),
    (
        "another service's durable",
        lambda r: checks.jetstream_triggers(r, ENDPOINT),
        "ScaledObject",
        "media-store",
        lambda d: _trigger(d, consumer="still-frame-design-requested"),
    ),
    (
        "client service instead of headless",
        lambda r: checks.jetstream_triggers(r, ENDPOINT),
        "ScaledObject",
        "still-frame",
        lambda d: _trigger(d, natsServerMonitoringEndpoint="nats.svd.svc.cluster.local:8222"),
    ),
    (
        "one stream replica",
        lambda r: checks.production_ready(r, 3),
        "ConfigMap",
        "svd-config",
        lambda d: d["data"].update(NATS_STREAM_REPLICAS="1"),
    ),
    (
        "one PostgreSQL instance",
        lambda r: checks.production_ready(r, 3),
        "Cluster",
        "svd-pg",
        lambda d: d["spec"].update(instances=1),
    ),
    (
        "no spread",
        lambda r: checks.production_ready(r, 3),
        "Deployment",
        "billing",
        lambda d: pod_spec(d).pop("topologySpreadConstraints"),
    ),
    (
        "certificate misses a target",
        checks.tls_covers_targets,
        "Certificate",
        "svd-grpc-tls",
        lambda d: d["spec"]["dnsNames"].remove("media-store"),
    ),
]


@pytest.mark.parametrize(("fault", "check", "kind", "name", "damage"), CASES, ids=[case[0] for case in CASES])
def test_check_finds_the_fault(
    production: Rendered,
    fault: str,
    check: Callable[[Rendered], list[str]],
    kind: str,
    name: str,
    damage: Callable[[Doc], object],
) -> None:
    assert check(production) == [], "the intact overlay must pass first"
    assert check(broken(production, kind, name, damage)) != [], f"{fault} went unnoticed"


def test_too_few_nats_servers_for_three_replicas(production: Rendered) -> None:
    assert checks.production_ready(production, 1) != []
