"""Spawning, tracking and stopping child processes by pid.

Every child runs in its own session (so its pid is also its process-group id) with stdout and
stderr appended to a log file. Liveness is "pid exists, is not a zombie, and /proc/<pid>/cmdline
equals the recorded command line", so a recycled pid is never mistaken for one of ours.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

# Popen handles of children started by this process, kept so they can be reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


def find_binary(name: str) -> str:
    """A console binary from this interpreter's scripts dir (the venv), else from PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def spawn(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: pwd.struct_passwd | None = None,
) -> int:
    """Start `cmd` detached in a new session, output appended to `log_path`; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    switch = user is not None and os.geteuid() == 0
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            user=user.pw_uid if switch and user else None,
            group=user.pw_gid if switch and user else None,
            extra_groups=[] if switch else None,
        )
    _children[proc.pid] = proc
    # Popen returns as soon as exec begins; /proc/<pid>/cmdline is briefly empty until the new
    # image has its arguments in place. Wait for it so `is_alive` is meaningful from now on.
    deadline = time.monotonic() + 2.0
    while read_cmdline(proc.pid) != list(cmd) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc.pid


def run(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: pwd.struct_passwd | None = None,
    timeout: float = 120.0,
) -> None:
    """Run a one-shot command to completion, output appended to `log_path`; raise on failure."""
    pid = spawn(cmd, log_path=log_path, env=env, cwd=cwd, user=user)
    proc = _children.pop(pid)
    if proc.wait(timeout=timeout) != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(cmd))


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of `pid` from /proc, or None if it is gone (zombies have an empty cmdline)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1] if raw else None


def is_alive(pid: int | None, cmdline: Sequence[str]) -> bool:
    """True if `pid` runs and is still the process we started with `cmdline`."""
    if not pid:
        return False
    _reap(pid)
    return read_cmdline(pid) == list(cmdline)


def create_time(pid: int) -> float:
    """When `pid` started (epoch seconds); 0.0 if it is already gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def _gone(pid: int, cmdline: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid, cmdline):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def kill_group(pgid: int, *, since: float = 0.0, timeout: float = 5.0) -> None:
    """SIGKILL what is left of process group `pgid` (members started at or after `since`); wait for them."""
    members: list[psutil.Process] = []
    for proc in psutil.process_iter(["create_time"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["create_time"] >= since - 1:
                proc.kill()
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    _reap(pgid)
    deadline = time.monotonic() + timeout
    while any(_running(proc) for proc in members) and time.monotonic() < deadline:
        time.sleep(0.05)


def _running(proc: psutil.Process) -> bool:
    """Still executing (a zombie is done; whoever is its parent reaps it)."""
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def stop(
    pid: int | None,
    cmdline: Sequence[str],
    *,
    sig: signal.Signals = signal.SIGTERM,
    whole_group: bool = True,
    timeout: float = 10.0,
) -> None:
    """Stop our process `pid`: `sig` (to its group or itself), wait, then SIGKILL the group."""
    if not pid:
        return
    if is_alive(pid, cmdline):
        started = create_time(pid)
        try:
            if whole_group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        if not _gone(pid, cmdline, timeout):
            os.killpg(pid, signal.SIGKILL)
            _gone(pid, cmdline, 5.0)
        kill_group(pid, since=started)
    _reap(pid)


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
