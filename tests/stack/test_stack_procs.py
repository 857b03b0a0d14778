"""Spawning, liveness (pid + cmdline) and stopping of child processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from svd_stack import procs

IGNORE_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_spawn_logs_and_is_alive_only_with_the_same_cmdline(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(60)"]
    pid = procs.spawn(cmd, log_path=tmp_path / "x.log", env=os.environ)
    try:
        assert os.getpgid(pid) == pid  # its own session / process group
        assert procs.is_alive(pid, cmd)
        assert not procs.is_alive(pid, [*cmd, "--other"])  # a recycled pid would not match
        deadline = time.monotonic() + 5
        while "hello" not in procs.tail(tmp_path / "x.log") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "hello" in procs.tail(tmp_path / "x.log")
    finally:
        procs.stop(pid, cmd, timeout=5)
    assert _gone(pid)
    assert not procs.is_alive(pid, cmd)


def test_stop_kills_the_whole_group_and_escalates_to_sigkill(tmp_path: Path) -> None:
    # The leader ignores SIGTERM and has a grandchild in its process group.
    spawn_grandchild = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {IGNORE_TERM!r}]); "
    cmd = [sys.executable, "-c", spawn_grandchild + IGNORE_TERM]
    pid = procs.spawn(cmd, log_path=tmp_path / "g.log", env=os.environ)
    deadline = time.monotonic() + 10
    while procs.tail(tmp_path / "g.log").count("up") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pid]
    assert len(members) == 2
    started = time.monotonic()
    procs.stop(pid, cmd, sig=signal.SIGTERM, timeout=0.5)
    assert time.monotonic() - started < 5
    assert all(_gone(member) or psutil.Process(member).status() == psutil.STATUS_ZOMBIE for member in members)
    assert _gone(pid)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_dead_pid_is_not_alive_and_stop_is_a_no_op() -> None:
    assert not procs.is_alive(None, [])
    assert not procs.is_alive(2**22 + 1, ["nothing"])
    procs.stop(None, [])


def test_run_raises_on_failure(tmp_path: Path) -> None:
    procs.run([sys.executable, "-c", "pass"], log_path=tmp_path / "ok.log", env=os.environ)
    with pytest.raises(Exception, match="returned non-zero"):
        procs.run([sys.executable, "-c", "raise SystemExit(3)"], log_path=tmp_path / "bad.log", env=os.environ)
