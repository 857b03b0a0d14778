"""What the Kubernetes schemas cannot say about our manifests, as pure checks: each returns the problems it finds.

Being functions of the rendered objects, every check is also run on a deliberately broken copy (test_checks.py), so
none of them can pass by not looking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from svd.bus.topology import CONSUMERS, STREAMS
from tests.deploy.manifests import Doc, Rendered, pod_spec

# The five services: Deployment name → the module its container runs (`python -m <module>`).
SERVICES = {
    "dispatcher": "dispatcher",
    "still-frame": "still_frame",
    "video-gateway": "video_gateway",
    "media-store": "media_store",
    "billing": "billing",
}
# Bus workers scale on their consumers' lag (KEDA); gRPC-only services on CPU (HPA).
BUS_WORKERS = {"dispatcher", "still-frame", "video-gateway", "media-store"}
GRPC_ONLY = {"billing"}


def _containers(workload: Doc) -> list[Doc]:
    return list(pod_spec(workload)["containers"])


def _workloads(rendered: Rendered) -> list[Doc]:
    return rendered.of_kind("Deployment") + rendered.of_kind("Job")


def services_present(rendered: Rendered) -> list[str]:
    """Exactly the five services, each running its own module."""
    problems = []
    deployments = {doc["metadata"]["name"]: doc for doc in rendered.of_kind("Deployment")}
    if set(deployments) != set(SERVICES):
        problems.append(f"Deployments {sorted(deployments)} are not the five services {sorted(SERVICES)}")
    for name, module in SERVICES.items():
        if name in deployments:
            args = _containers(deployments[name])[0].get("args")
            if args != [module]:
                problems.append(f"Deployment {name} runs {args}, not [{module!r}]")
    return problems


def one_image(rendered: Rendered) -> list[str]:
    """Every container of every Deployment and Job runs the same image."""
    images = {c["image"] for workload in _workloads(rendered) for c in _containers(workload)}
    return [] if len(images) == 1 else [f"more than one image: {sorted(images)}"]


def _port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def probe_port(rendered: Rendered) -> int:
    """Where the kubelet's gRPC probes must go: the gRPC port, or with TLS on it (they cannot speak TLS) the
    plaintext health-only listener."""
    config = rendered.config()
    if config.get("GRPC_TLS_CERT"):
        return _port(config.get("GRPC_HEALTH_LISTEN", config["GRPC_LISTEN"]))
    return _port(config["GRPC_LISTEN"])


def _grpc_probe(container: Doc, probe: str, port: int) -> bool:
    return container.get(probe, {}).get("grpc", {}).get("port") == port


def deployments_hardened(rendered: Rendered) -> list[str]:
    """gRPC readiness and liveness probes, requests and limits, non-root, read-only root, no escalation, /tmp."""
    problems = []
    port = probe_port(rendered)
    if rendered.config().get("GRPC_TLS_CERT") and port == _port(rendered.config()["GRPC_LISTEN"]):
        problems.append(f"gRPC TLS is on, yet the probes would go to the TLS port {port}")
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        pod_non_root = spec.get("securityContext", {}).get("runAsNonRoot") is True
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            declared = {p["containerPort"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                if not _grpc_probe(container, probe, port) or port not in declared:
                    problems.append(f"{where}: no native gRPC {probe} on its port {port}")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                if missing:
                    problems.append(f"{where}: no {bound} for {sorted(missing)}")
            context = container.get("securityContext", {})
            if not (pod_non_root or context.get("runAsNonRoot") is True):
                problems.append(f"{where}: not runAsNonRoot")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem not read-only")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation not forbidden")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if mounts.get("/tmp") not in tmp_volumes:
                problems.append(f"{where}: /tmp is not an emptyDir")
    return problems


def metrics_scrapable(rendered: Rendered) -> list[str]:
    """Each service's Prometheus endpoint (METRICS_PORT) is a declared container port its annotations point at."""
    problems = []
    port = rendered.config().get("METRICS_PORT")
    if port is None:
        return ["METRICS_PORT is not set: no service serves its metrics for scraping"]
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        declared = {p.get("name"): p["containerPort"] for p in _containers(deployment)[0].get("ports", [])}
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if declared.get("metrics") != int(port) or annotations.get("prometheus.io/port") != port:
            problems.append(f"{name}: metrics port {port} not declared and annotated")
    return problems


def configured_from_one_configmap(rendered: Rendered) -> list[str]:
    """Config comes from the one ConfigMap; secrets by key from Secrets that are never part of the manifests."""
    problems = []
    if rendered.of_kind("Secret"):
        problems.append("a Secret is rendered: secrets are created by hand, never committed")
    for workload in _workloads(rendered):
        for container in _containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            sources = container.get("envFrom", [])
            refs = [source["configMapRef"]["name"] for source in sources if "configMapRef" in source]
            if refs != ["svd-config"]:
                problems.append(f"{where}: config from {refs}, not the one ConfigMap svd-config")
            for variable in container.get("env", []):
                if "value" in variable and variable["name"] not in ("NATS_USER",):
                    problems.append(f"{where}: {variable['name']} set inline (belongs in svd-config or a Secret)")
    return problems


def secret_refs(rendered: Rendered, documented: Mapping[str, set[str]]) -> list[str]:
    """Every secretKeyRef names a documented Secret and one of its documented keys."""
    problems = []
    for workload in _workloads(rendered):
        for container in _containers(workload):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                keys = documented.get(ref["name"])
                if keys is None:
                    problems.append(f"{variable['name']}: unknown Secret {ref['name']}")
                elif ref["key"] not in keys:
                    problems.append(f"{variable['name']}: key {ref['key']} not documented for Secret {ref['name']}")
    return problems


def grpc_targets_headless(rendered: Rendered) -> list[str]:
    """Each `dns:///name:port` gRPC target is a headless Service of this overlay serving that port."""
    problems = []
    for key, target in rendered.config().items():
        if not key.endswith("_GRPC_TARGET"):
            continue
        if not target.startswith("dns:///"):
            problems.append(f"{key}={target}: not a dns:/// target (clients would pin one pod)")
            continue
        host, _, port = target.removeprefix("dns:///").rpartition(":")
        try:
            service = rendered.get("Service", host.split(".")[0])
        except KeyError:
            problems.append(f"{key}: no Service {host}")
            continue
        if service["spec"].get("clusterIP") != "None":
            problems.append(f"{key}: Service {host} is not headless")
        if int(port) not in {p["port"] for p in service["spec"]["ports"]}:
            problems.append(f"{key}: Service {host} has no port {port}")
    return problems


def _scaled_targets(rendered: Rendered) -> tuple[dict[str, Doc], dict[str, Doc]]:
    scaled = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in rendered.of_kind("ScaledObject")}
    hpas = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in rendered.of_kind("HorizontalPodAutoscaler")}
    return scaled, hpas


def autoscaling(rendered: Rendered) -> list[str]:
    """Bus workers under a ScaledObject (lag and CPU), gRPC-only services under a CPU HPA, nothing under both."""
    problems = []
    scaled, hpas = _scaled_targets(rendered)
    deployments = {doc["metadata"]["name"] for doc in rendered.of_kind("Deployment")}
    for both in sorted(set(scaled) & set(hpas)):
        problems.append(f"{both} is under both an HPA and a ScaledObject")
    for target in sorted((set(scaled) | set(hpas)) - deployments):
        problems.append(f"an autoscaler targets {target}, which is no Deployment")
    for worker in sorted(BUS_WORKERS - set(scaled)):
        problems.append(f"bus worker {worker} has no ScaledObject")
    for name in sorted(GRPC_ONLY - set(hpas)):
        problems.append(f"gRPC-only {name} has no CPU HPA")
    for name, scaled_object in scaled.items():
        types = [trigger["type"] for trigger in scaled_object["spec"]["triggers"]]
        if "nats-jetstream" not in types or "cpu" not in types:
            problems.append(f"ScaledObject {name} has triggers {types}, not consumer lag plus CPU")
    for name, hpa in hpas.items():
        metrics = [m.get("resource", {}).get("name") for m in hpa["spec"]["metrics"]]
        if metrics != ["cpu"]:
            problems.append(f"HPA {name} scales on {metrics}, not CPU")
    return problems


def jetstream_triggers(rendered: Rendered, monitoring_endpoint: str) -> list[str]:
    """Every nats-jetstream trigger reads a durable of `svd.bus.topology` (on its stream, owned by the workload it
    scales) through the NATS headless service's monitoring port."""
    problems = []
    streams = {stream.name for stream in STREAMS}
    durables = {spec.durable: spec for spec in CONSUMERS}
    for scaled_object in rendered.of_kind("ScaledObject"):
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        for trigger in scaled_object["spec"]["triggers"]:
            if trigger["type"] != "nats-jetstream":
                continue
            meta = trigger["metadata"]
            where = f"ScaledObject {target}, consumer {meta.get('consumer')}"
            if meta.get("stream") not in streams:
                problems.append(f"{where}: stream {meta.get('stream')} is not in the topology")
            spec = durables.get(meta.get("consumer", ""))
            if spec is None:
                problems.append(f"{where}: no such durable consumer in the topology")
            elif spec.stream != meta.get("stream"):
                problems.append(f"{where}: the durable reads stream {spec.stream}, not {meta.get('stream')}")
            elif not spec.durable.startswith(f"{target}-"):
                problems.append(f"{where}: the durable is not {target}'s")
            endpoint = meta.get("natsServerMonitoringEndpoint")
            if endpoint != monitoring_endpoint:
                problems.append(f"{where}: endpoint {endpoint}, not {monitoring_endpoint}")
            if not str(meta.get("lagThreshold", "")).isdigit():
                problems.append(f"{where}: no numeric lagThreshold")
    return problems


def shutdown_grace(rendered: Rendered, stop_wait: Any) -> list[str]:
    """Kubernetes waits at least as long as the service drains (its SHUTDOWN_GRACE_S plus the RPC/telemetry margin)."""
    problems = []
    config = rendered.config()
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        module = SERVICES.get(name)
        if module is None:
            continue
        needed = stop_wait(module, config)
        given = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        if given < needed:
            problems.append(f"{name}: terminationGracePeriodSeconds {given} < the {needed:.0f} s it drains for")
    return problems


def production_ready(rendered: Rendered, nats_cluster_replicas: int) -> list[str]:
    """Three stream replicas on a NATS cluster that has them, three PostgreSQL instances, budgets, spread."""
    problems = []
    replicas = rendered.config().get("NATS_STREAM_REPLICAS")
    if replicas != "3":
        problems.append(f"NATS_STREAM_REPLICAS is {replicas!r}, not 3")
    if nats_cluster_replicas < 3:
        problems.append(f"the NATS chart runs {nats_cluster_replicas} servers, fewer than 3 stream replicas need")
    instances = [doc["spec"].get("instances") for doc in rendered.of_kind("Cluster")]
    if instances != [3]:
        problems.append(f"PostgreSQL instances {instances}, not one Cluster of 3")
    budgets = {
        doc["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name")
        for doc in rendered.of_kind("PodDisruptionBudget")
    }
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        if name not in budgets:
            problems.append(f"{name}: no PodDisruptionBudget")
        keys = {c["topologyKey"] for c in pod_spec(deployment).get("topologySpreadConstraints", [])}
        if "kubernetes.io/hostname" not in keys:
            problems.append(f"{name}: not spread over nodes")
        if deployment["spec"].get("replicas", 1) < 2:
            problems.append(f"{name}: fewer than 2 replicas")
    return problems


def tls_covers_targets(rendered: Rendered) -> list[str]:
    """With gRPC TLS on, the certificate names every host a client dials and is mounted where the settings say."""
    config = rendered.config()
    if not config.get("GRPC_TLS_CERT"):
        return []
    problems = []
    certificates = {doc["spec"]["secretName"]: doc for doc in rendered.of_kind("Certificate")}
    names = {name for doc in certificates.values() for name in doc["spec"].get("dnsNames", [])}
    for key, target in config.items():
        if key.endswith("_GRPC_TARGET"):
            host = target.removeprefix("dns:///").rpartition(":")[0]
            if host not in names:
                problems.append(f"{key}: no certificate names {host}")
    directory = config["GRPC_TLS_CERT"].rpartition("/")[0]
    for deployment in rendered.of_kind("Deployment"):
        spec = pod_spec(deployment)
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        mounted = {
            secrets.get(m["name"])
            for c in spec["containers"]
            for m in c.get("volumeMounts", [])
            if m["mountPath"] == directory
        }
        if not mounted & set(certificates):
            problems.append(f"{deployment['metadata']['name']}: no certificate Secret mounted at {directory}")
    return problems


def flatten(problems: Iterable[str]) -> str:
    return "\n".join(problems)
