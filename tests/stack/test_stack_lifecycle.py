"""`up`/`down` bookkeeping with throwaway components: failures, restarts on change, idempotence."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from svd_stack import StackError, down, status, up
from svd_stack.components import Component, Context


def _sleeper(name: str, tag: str = "v1", ready: bool = True, timeout: float = 5.0) -> Component:
    code = f"import time; print('{name} {tag}', flush=True); time.sleep(60)"
    return Component(
        name=name,
        command=lambda ctx: [sys.executable, "-c", code],
        ready=lambda ctx: ready,
        in_data_dir=False,
        ready_timeout=timeout,
        stop_timeout=2.0,
    )


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_component_that_exits_reports_its_log_tail(tmp_path: Path) -> None:
    broken = Component(
        name="broken",
        command=lambda ctx: [sys.executable, "-c", "print('boom: bad config', flush=True); raise SystemExit(2)"],
        ready=lambda ctx: False,
        in_data_dir=False,
    )
    with pytest.raises(StackError, match="broken exited during startup") as err:
        up(tmp_path, plan=[broken], env=os.environ)
    assert "boom: bad config" in err.value.log_tail


def test_a_component_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="not ready after 1s") as err:
        up(tmp_path, plan=[_sleeper("slow", ready=False, timeout=1.0)], env=os.environ)
    assert "slow v1" in err.value.log_tail
    assert [s.state for s in status(tmp_path, plan=[_sleeper("slow")])] == ["stopped"]


def test_up_is_idempotent_restarts_on_change_and_down_stops_everything(tmp_path: Path) -> None:
    plan = [_sleeper("a"), _sleeper("b")]
    first = up(tmp_path, plan=plan, env=os.environ)
    pids = {name: first["processes"][name]["pid"] for name in ("a", "b")}
    assert up(tmp_path, plan=plan, env=os.environ)["processes"]["a"]["pid"] == pids["a"]

    changed = up(tmp_path, plan=[_sleeper("a"), _sleeper("b", tag="v2")], env=os.environ)
    assert changed["processes"]["a"]["pid"] == pids["a"]
    assert changed["processes"]["b"]["pid"] != pids["b"]
    assert _gone(pids["b"])
    assert changed["processes"]["b"]["port"] == first["processes"]["b"]["port"]

    down(tmp_path, plan=plan)
    assert _gone(pids["a"]) and _gone(changed["processes"]["b"]["pid"])
    assert {s.state for s in status(tmp_path, plan=plan)} == {"stopped"}


def test_only_runs_the_selected_steps(tmp_path: Path) -> None:
    ran: list[str] = []

    def hook(ctx: Context) -> None:
        ran.append(ctx.addr("a"))

    plan = [Component(name="a", command=lambda ctx: [], ready=lambda ctx: True, prepare=hook), _sleeper("b")]
    doc = up(tmp_path, only=["b"], plan=plan, env=os.environ)
    assert ran == [] and doc["processes"]["a"]["pid"] is None and doc["processes"]["b"]["pid"]
    down(tmp_path, plan=plan)
