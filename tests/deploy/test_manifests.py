"""deploy/k8s: every overlay renders with `kubectl kustomize`, validates strictly against the Kubernetes schemas
(offline, kubernetes-validate), and holds what the schemas cannot check (tests/deploy/checks.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import kubernetes_validate
import pytest

from svd_stack.grace import stop_wait
from tests.deploy import checks
from tests.deploy.manifests import (
    BASE,
    HELM,
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    Rendered,
    env_keys,
    load_yaml,
    render,
)

# Custom resources: their operators' CRDs are not among the shipped schemas, so they only warn, and only these may.
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"),
}
# The Secrets the manifests read, each documented by an example env file (the real ones are never committed), and
# the one CloudNativePG writes.
DOCUMENTED_SECRETS = {
    "svd-secrets": env_keys(BASE / "secrets.example.env"),
    "svd-nats-passwords": env_keys(BASE / "nats-passwords.example.env"),
    "svd-pg-app": {"uri"},
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {name: Rendered(name, render(K8S / "overlays" / name)) for name in OVERLAYS}


@pytest.fixture(scope="module")
def nats_values() -> dict:
    return dict(load_yaml(HELM / "nats-values.yaml"))


def monitoring_endpoint(nats_values: dict, namespace: str) -> str:
    """The NATS chart's headless service (release `nats`) and its monitoring port, as KEDA must reach them."""
    monitor = nats_values["config"]["monitor"]
    assert monitor["enabled"] is True, "the NATS monitoring port is off: KEDA cannot read consumer lag"
    return f"nats-headless.{namespace}.svc.cluster.local:{monitor['port']}"


def test_overlays_are_the_documented_ones() -> None:
    assert sorted(path.name for path in (K8S / "overlays").iterdir()) == sorted(OVERLAYS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(rendered: dict[str, Rendered], overlay: str, version: str) -> None:
    unchecked = set()
    for doc in rendered[overlay].docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            kind = (doc["apiVersion"], doc["kind"])
            assert kind in CUSTOM_KINDS, f"{kind} has no schema and is no known custom resource (a typo?)"
            unchecked.add(kind)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']} invalid for {version}: {exc.message}")
    if unchecked:
        warnings.warn(f"{overlay}: custom resources not schema-checked: {sorted(unchecked)}", stacklevel=1)


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, Rendered]) -> None:
    deployment = rendered["production"].get("Deployment", "dispatcher")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**deployment, "spec": {**deployment["spec"]}}
    broken["spec"]["template"] = {
        **deployment["spec"]["template"],
        "spec": {**deployment["spec"]["template"]["spec"], "containers": [{**container, "readinesProbe": {}}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


OVERLAY_CHECKS: dict[str, Callable[[Rendered], list[str]]] = {
    "services_present": checks.services_present,
    "one_image": checks.one_image,
    "deployments_hardened": checks.deployments_hardened,
    "configured_from_one_configmap": checks.configured_from_one_configmap,
    "secret_refs": lambda r: checks.secret_refs(r, DOCUMENTED_SECRETS),
    "grpc_targets_headless": checks.grpc_targets_headless,
    "metrics_scrapable": checks.metrics_scrapable,
    "shutdown_grace": lambda r: checks.shutdown_grace(r, stop_wait),
    "tls_covers_targets": checks.tls_covers_targets,
}


@pytest.mark.parametrize("check", sorted(OVERLAY_CHECKS))
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_holds(rendered: dict[str, Rendered], overlay: str, check: str) -> None:
    assert OVERLAY_CHECKS[check](rendered[overlay]) == []


def test_production_scales_on_consumer_lag_and_cpu(rendered: dict[str, Rendered], nats_values: dict) -> None:
    production = rendered["production"]
    assert checks.autoscaling(production) == []
    assert production.of_kind("ScaledObject"), "no ScaledObject rendered: nothing would be checked"
    endpoint = monitoring_endpoint(nats_values, production.get("Namespace", "svd")["metadata"]["name"])
    assert checks.jetstream_triggers(production, endpoint) == []


def test_production_is_replicated(rendered: dict[str, Rendered], nats_values: dict) -> None:
    assert nats_values["config"]["cluster"]["enabled"] is True
    assert nats_values["config"]["jetstream"]["fileStore"]["enabled"] is True
    assert checks.production_ready(rendered["production"], nats_values["config"]["cluster"]["replicas"]) == []


def test_local_runs_one_of_everything_without_autoscalers(rendered: dict[str, Rendered]) -> None:
    local = rendered["local"]
    assert local.config()["NATS_STREAM_REPLICAS"] == "1"
    assert [doc["spec"]["instances"] for doc in local.of_kind("Cluster")] == [1]
    assert not local.of_kind("ScaledObject") and not local.of_kind("HorizontalPodAutoscaler")
    # With no autoscaler, the bus triggers check has nothing to look at: the production test covers it.
    assert checks.autoscaling(local) != []
