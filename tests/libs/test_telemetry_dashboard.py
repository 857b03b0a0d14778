"""The Grafana dashboard and the instrument list agree: every metric a panel queries is one the services record (under
the name the Prometheus exporter really gives it), with labels it has, and every instrument is on the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from svd.telemetry.metrics import INSTRUMENTS, Instrument

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "svd-overview.json"
_METRIC = re.compile(r"\bsvd_[a-z0-9_]+")
_LABELS = re.compile(r"\bby \(([^)]*)\)|\{([^}]*)\}")
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _panels(panels: list[dict]) -> list[dict]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def _exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in _panels(dashboard["panels"]) for target in panel.get("targets", [])]


def _series(instrument: Instrument) -> set[str]:
    name = instrument.prometheus_name
    return {name} if instrument.kind == "counter" else {name + suffix for suffix in _SERIES_SUFFIXES}


def test_prometheus_names_are_the_exporters() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry, disable_target_info=True)])
    meter = provider.get_meter("svd")
    for instrument in INSTRUMENTS:
        attributes = {name: "x" for name in instrument.attributes}
        if instrument.kind == "counter":
            instrument.counter(meter).add(1, attributes)
        else:
            instrument.histogram(meter).record(0.5, attributes)
    exposition = generate_latest(registry).decode().splitlines()
    families = {line.split()[2] for line in exposition if line.startswith("# TYPE")}
    provider.shutdown()
    assert families == {instrument.prometheus_name for instrument in INSTRUMENTS}


def test_every_panel_queries_recorded_metrics_by_their_labels() -> None:
    series = {name: instrument for instrument in INSTRUMENTS for name in _series(instrument)}
    exprs = _exprs()
    assert exprs
    for expr in exprs:
        used = _METRIC.findall(expr)
        assert used, f"a panel queries no svd metric: {expr}"
        unknown = [name for name in used if name not in series]
        assert not unknown, f"{expr}: not recorded by any instrument: {unknown}"
        allowed = {"le", "job", "instance"}.union(*(series[name].attributes for name in used))
        for by, matchers in _LABELS.findall(expr):
            labels = [label.strip() for label in by.split(",")] if by else re.findall(r"(\w+)\s*=~?", matchers)
            assert set(labels) <= allowed, f"{expr}: labels {set(labels) - allowed} are not attributes"


def test_every_instrument_is_on_the_dashboard() -> None:
    queried = {name for expr in _exprs() for name in _METRIC.findall(expr)}
    missing = [instrument.name for instrument in INSTRUMENTS if not _series(instrument) & queried]
    assert not missing, f"instruments without a panel: {missing}"
