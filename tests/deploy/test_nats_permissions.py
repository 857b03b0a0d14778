"""The NATS chart values carry the permission table of `svd.bus.permissions` exactly (rendered, never hand-edited),
and every password the servers read comes from the Secret the deployment documents."""

from __future__ import annotations

from pathlib import Path

import yaml

from svd.bus.permissions import chart_users, password_variable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_chart_values_hold_the_rendered_permission_table() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "nats-values.yaml").read_text())
    assert values["config"]["merge"]["authorization"]["users"] == chart_users()


def test_every_users_password_comes_from_the_documented_secret() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "nats-values.yaml").read_text())
    env = values["container"]["env"]
    documented = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "k8s" / "base" / "nats-passwords.example.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for user in chart_users():
        variable = password_variable(user["user"])
        assert user["password"] == f"<< ${variable} >>"
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "svd-nats-passwords", "key": user["user"]}
        assert user["user"] in documented
