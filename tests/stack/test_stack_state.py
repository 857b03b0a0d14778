"""stack.json handling, the home layout and the CLI surface."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from svd_stack import StackError, state, up
from svd_stack.cli import app


def test_save_is_atomic_private_and_round_trips(tmp_path: Path) -> None:
    state.save(tmp_path, {"b": 1, "a": {"x": [1, 2]}})
    path = state.state_path(tmp_path)
    assert state.load(tmp_path) == {"a": {"x": [1, 2]}, "b": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]  # no temp files left behind
    assert state.load(tmp_path / "missing") == {}


def test_run_dir_falls_back_to_tmp_for_long_homes(tmp_path: Path) -> None:
    assert state.run_dir(Path("/h")) == Path("/h/run")
    long_home = Path("/" + "x" * 120)
    assert len(str(state.run_dir(long_home))) < 40
    assert state.run_dir(long_home) == state.run_dir(long_home)


def test_unknown_component_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown component"):
        up(tmp_path, only=["nope"])


def test_cli_registers_commands_and_status_of_an_empty_home_fails(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["--help"]).output
    assert all(command in help_text for command in ("up", "down", "status"))
    result = runner.invoke(app, ["status", "--home", str(tmp_path)], env={"RUNWAY_API_KEY": "x"})
    assert result.exit_code == 1
    assert "stopped" in result.output
