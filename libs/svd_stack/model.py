"""The records the stack is described with: a `Component` (a long-running process), a `Task` (a one-shot step),
and the `Context` every hook of theirs receives. The table of the real ones is `svd_stack.components.PLAN`.
"""

from __future__ import annotations

import pwd
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svd_stack import state
from svd_stack.env import Exports
from svd_stack.ports import LOCALHOST


@dataclass(frozen=True)
class Context:
    """Everything a component hook may need: where things live, ports, secrets, the user's env."""

    home: Path
    env: Mapping[str, str]
    ports: Mapping[str, Mapping[str, int]]
    secrets: Mapping[str, str]
    plan: tuple[Step, ...] = ()

    def port(self, name: str, which: str | None = None) -> int:
        ports = self.ports[name]
        return ports[which] if which else next(iter(ports.values()))

    def addr(self, name: str, which: str | None = None) -> str:
        return f"{LOCALHOST}:{self.port(name, which)}"

    def data(self, name: str) -> Path:
        return state.data_dir(self.home, name)

    def log(self, name: str) -> Path:
        return state.log_path(self.home, name)

    @property
    def run(self) -> Path:
        return state.run_dir(self.home)


Hook = Callable[[Context], None]


def _nothing(ctx: Context) -> None:
    return None


def _no_facts(ctx: Context) -> dict[str, Any]:
    return {}


def _no_exports(ctx: Context) -> Exports:
    return Exports()


def _no_env(ctx: Context) -> dict[str, str]:
    return {}


def _always(env: Mapping[str, str]) -> bool:
    return True


@dataclass(frozen=True)
class Component:
    """A long-running process of the stack."""

    name: str
    command: Callable[[Context], list[str]]
    ready: Callable[[Context], bool]
    ports: tuple[str, ...] = ("main",)  # named ports to allocate; the first is the primary one
    prepare: Hook = _nothing  # before each start (initdb, config files)
    after_ready: Hook = _nothing  # after ready, on every `up` (create database / bucket)
    after_stop: Hook = _nothing
    facts: Callable[[Context], dict[str, Any]] = _no_facts  # contributions to stack.json
    exports: Callable[[Context], Exports] = _no_exports  # contributions to the services' env
    own_env: Callable[[Context], dict[str, str]] = _no_env  # forced env for this process only
    enabled: Callable[[Mapping[str, str]], bool] = _always
    user: Callable[[], pwd.struct_passwd | None] = lambda: None  # account to run as
    is_service: bool = False  # gets the services' environment overlay
    in_data_dir: bool = True  # run with cwd = its data dir (else inherit ours)
    ready_timeout: float = 30.0
    stop_signal: signal.Signals = signal.SIGTERM
    signal_group: bool = True  # send stop_signal to the whole process group
    stop_timeout: float = 10.0  # wait after stop_signal before SIGKILL...
    stop_wait: Callable[[Context], float] | None = None  # ...unless this says otherwise (fixed at each start)
    replica_of: str = ""  # replicas of one service start (and stop) together

    def stop_after(self, ctx: Context) -> float:
        """Seconds `svd down` waits after `stop_signal` before SIGKILL, for a process started in `ctx`."""
        return self.stop_timeout if self.stop_wait is None else self.stop_wait(ctx)


@dataclass(frozen=True)
class Task:
    """A one-shot step run on every `up` once the components before it are ready."""

    name: str
    run: Hook
    enabled: Callable[[Mapping[str, str]], bool] = _always


Step = Component | Task
