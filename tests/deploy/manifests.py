"""Rendering and reading what deploy/ ships: Kustomize overlays (with the machine's kubectl), chart values, env files.

Nothing here skips: a missing tool fails the test with what to install, since a check that silently does not run
is worse than none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
HELM = DEPLOY / "helm"
OVERLAYS = ("local", "production")
# The Kubernetes versions the manifests must validate against: kubectl's on this machine, and the newest whose
# schemas kubernetes-validate ships (an API removed upstream fails there first).
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")

Doc = dict[str, Any]


def tool(name: str, hint: str) -> str:
    """Path of the executable `name` (the venv's bin first, then PATH), or a failed test that says how to get it."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` not found: {hint}", pytrace=False)
    return found


def kubectl() -> str:
    return tool("kubectl", "kubectl (>= 1.27, with its built-in kustomize) is part of this machine image; install it")


def render(directory: Path) -> list[Doc]:
    """`kubectl kustomize directory`, parsed."""
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def env_keys(path: Path) -> set[str]:
    """Keys of a `KEY=value` env file (comments and blank lines ignored)."""
    keys = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.add(line.split("=", 1)[0])
    return keys


@dataclass(frozen=True)
class Rendered:
    """One overlay's objects, with lookups by kind and name."""

    name: str
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> Doc:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"{self.name}: no {kind} {name}")

    def config(self) -> dict[str, str]:
        return dict(self.get("ConfigMap", "svd-config")["data"])


def pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]
