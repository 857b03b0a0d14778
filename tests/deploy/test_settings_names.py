"""Every variable the manifests set is one the program reads: a misspelt name would be ignored silently
(the settings ignore unknown variables), and the service would run on its default."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import pytest
from pydantic_settings import BaseSettings

from svd.telemetry.settings import TelemetrySettings
from tests.deploy.checks import SERVICES
from tests.deploy.manifests import K8S, OVERLAYS, Rendered, pod_spec, render

# Standard variables read by the OpenTelemetry SDK, not by our settings.
SDK_PREFIXES = ("OTEL_",)
# Names the manifests already set for work not landed yet, each with what will read it. The test fails as soon as
# one of them is read (take it off this list then) or a name that is not on it is read by nothing.
PENDING: dict[str, str] = {}


def _settings_classes(module: ModuleType) -> list[type[BaseSettings]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module.__name__
    ]


def _names(classes: list[type[BaseSettings]]) -> set[str]:
    names = set()
    for cls in classes:
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add((alias if isinstance(alias, str) else field_name).upper())
    return names


def _read_by(module: str) -> set[str]:
    """What `python -m module` reads: its own settings module's classes, or the module's own, plus telemetry's."""
    settings = f"{module}.settings"
    found = importlib.util.find_spec(settings) if "." not in module else None
    owner = importlib.import_module(settings if found else module)
    return _names([*_settings_classes(owner), TelemetrySettings])


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {name: Rendered(name, render(K8S / "overlays" / name)) for name in OVERLAYS}


def _workloads(rendered: Rendered) -> list[tuple[str, list[str], set[str]]]:
    """(name, the modules its containers run, the variables set on them explicitly)."""
    found = []
    for workload in rendered.of_kind("Deployment") + rendered.of_kind("Job"):
        containers = pod_spec(workload)["containers"]
        modules = [c["args"][0] for c in containers]
        explicit = {v["name"] for c in containers for v in c.get("env", [])}
        found.append((workload["metadata"]["name"], modules, explicit))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_a_module_that_exists(rendered: dict[str, Rendered], overlay: str) -> None:
    for name, modules, _ in _workloads(rendered[overlay]):
        for module in modules:
            assert importlib.util.find_spec(module) is not None, f"{name} runs `python -m {module}`: no such module"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_read(rendered: dict[str, Rendered], overlay: str) -> None:
    workloads = _workloads(rendered[overlay])
    unread = set()
    read_anywhere: set[str] = set()
    for name, modules, explicit in workloads:
        reads = set().union(*(_read_by(module) for module in modules))
        read_anywhere |= reads
        unread |= {f"{name}: {variable}" for variable in explicit - reads}
    config = rendered[overlay].config()
    unread |= {f"svd-config: {key}" for key in config if key not in read_anywhere and not key.startswith(SDK_PREFIXES)}
    unexpected = {entry for entry in unread if entry.split(": ")[1] not in PENDING}
    assert not unexpected, f"set but read by nothing: {sorted(unexpected)}"


def test_pending_names_are_still_pending() -> None:
    read = set().union(*(_read_by(module) for module in SERVICES.values()))
    landed = sorted(set(PENDING) & read)
    assert not landed, f"now read by the services, take them off PENDING: {landed}"
