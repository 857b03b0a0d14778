"""Bring the embedded dev stack up, take it down, report its status (the engine behind `svd`).

`up` walks the component table in order, leaving alone whatever already runs healthy (same pid,
same command line, ready) and (re)starting the rest on their remembered ports. `down` stops
everything in reverse order, by pid, giving each service its shutdown grace to drain before SIGKILL.
Both keep `<home>/stack.json` current.

A stack has a shape: how many NATS servers (one, or a cluster) and how many replicas of each service. `up` takes it
from its options, else from stack.json (so `svd up --only dispatcher-2` restarts a replica of a replicated stack);
`down` and `status` read it from stack.json.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from svd_stack import components, procs, state
from svd_stack.checks import ProcessDied, wait_ready
from svd_stack.components import SECRET_FACTORIES, Component, Context, Step, Task, child_env, config_digest
from svd_stack.ports import allocate

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["running", "stopped", "unhealthy"]
Record = dict[str, Any]
# How long an already-running component may take to answer before we call it unhealthy.
_RECHECK_TIMEOUT = 5.0


class StackError(RuntimeError):
    """A component failed to start or stop; `log_tail` holds the end of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    state: State


@dataclass(frozen=True)
class Shape:
    """NATS servers (1: a single server named `nats`; more: a cluster `nats-1`…) and replicas of each service."""

    nats_cluster: int = 1
    replicas: int = 1

    def plan(self) -> tuple[Step, ...]:
        return components.plan(self.nats_cluster, self.replicas)


def _recorded_shape(recorded: Mapping[str, Any]) -> Shape:
    return Shape(**recorded.get("shape", {}))


def _components(plan: Sequence[Step]) -> list[Component]:
    return [step for step in plan if isinstance(step, Component)]


def _ensure_secrets(existing: Mapping[str, str]) -> dict[str, str]:
    return {key: existing.get(key) or make() for key, make in SECRET_FACTORIES.items()}


def _alive(record: Record) -> bool:
    return procs.is_alive(record.get("pid"), record.get("cmdline") or [])


def _allocate_ports(components: Sequence[Component], processes: Mapping[str, Record]) -> dict[str, dict[str, int]]:
    """Remembered ports where possible; running components are served first (theirs are busy)."""
    taken: set[int] = set()
    ports: dict[str, dict[str, int]] = {}
    running = {c.name for c in components if _alive(processes.get(c.name, {}))}
    for comp in sorted(components, key=lambda c: c.name not in running):
        remembered = processes.get(comp.name, {}).get("ports", {})
        ports[comp.name] = allocate(comp.ports, remembered, taken=taken, in_use_by_us=comp.name in running)
    return ports


def _batches(steps: Iterable[Step]) -> list[list[Step]]:
    """`steps` in order, the replicas of one service (consecutive) batched together."""
    batches: list[list[Step]] = []
    for step in steps:
        last = batches[-1][-1] if batches else None
        replicas = isinstance(step, Component) and isinstance(last, Component) and step.replica_of
        if replicas and last.replica_of == step.replica_of:  # type: ignore[union-attr]
            batches[-1].append(step)
        else:
            batches.append([step])
    return batches


def _each(action: Callable[[T], None], items: Sequence[T]) -> None:
    """`action` on every item, at once when there are several (replicas start and drain side by side); the first
    failure is raised once all are done."""
    if len(items) == 1:
        action(items[0])
        return
    with ThreadPoolExecutor(len(items)) as pool:
        for future in [pool.submit(action, item) for item in items]:
            future.result()


def _render(ctx: Context, processes: dict[str, Record], shape: Shape | None = None) -> dict[str, Any]:
    """The stack.json document: facts of every component, secrets, and the process records."""
    doc: dict[str, Any] = {"version": 1, "home": str(ctx.home)}
    if shape is not None:
        doc["shape"] = {"nats_cluster": shape.nats_cluster, "replicas": shape.replicas}
    grpc: dict[str, str] = {}
    http: dict[str, str] = {}
    scrape: dict[str, str] = {}
    for comp in _components(ctx.plan):
        facts = comp.facts(ctx)
        grpc.update(facts.pop("grpc", {}))
        http.update(facts.pop("http", {}))
        scrape.update(facts.pop("metrics", {}))
        doc.update(facts)
        record = processes.setdefault(comp.name, {"pid": None})
        ports = dict(ctx.ports[comp.name])
        record.update(ports=ports, port=ports[comp.ports[0]], log=str(ctx.log(comp.name)))
    doc.update(
        grpc=grpc,
        http=http,
        metrics=scrape,
        admin_api_key=ctx.secrets["admin_api_key"],
        secrets=dict(ctx.secrets),
        processes=processes,
    )
    return doc


def _stop(comp: Component | None, record: Record) -> None:
    """`stop_signal`, then up to the wait recorded when it started (a service's shutdown grace), then SIGKILL."""
    if comp is None:
        procs.stop(record.get("pid"), record.get("cmdline") or [], timeout=record.get("stop_after", 10.0))
    else:
        procs.stop(
            record.get("pid"),
            record.get("cmdline") or [],
            sig=comp.stop_signal,
            whole_group=comp.signal_group,
            timeout=record.get("stop_after", comp.stop_timeout),
        )
    record["pid"] = None


def _start(ctx: Context, comp: Component, processes: dict[str, Record], persist: Callable[[], None]) -> None:
    """Start `comp` unless it already runs healthy; wait until it is ready."""
    record = processes.setdefault(comp.name, {"pid": None})
    digest = config_digest(ctx, comp)
    if _alive(record) and record.get("config", digest) != digest:
        log.info("%s configuration changed, restarting it", comp.name)
        _stop(comp, record)
    if _alive(record):
        try:
            wait_ready(lambda: comp.ready(ctx), timeout=min(_RECHECK_TIMEOUT, comp.ready_timeout))
            log.info("%s already running (pid %s)", comp.name, record["pid"])
            return
        except TimeoutError:
            log.warning("%s (pid %s) is unhealthy, restarting it", comp.name, record["pid"])
            _stop(comp, record)
    elif record.get("pid"):  # it died: clear what may be left of its process group
        procs.kill_group(record["pid"], since=record.get("started_at", 0.0))
    cwd = ctx.data(comp.name) if comp.in_data_dir else None
    if cwd is not None:
        cwd.mkdir(parents=True, exist_ok=True)
        cwd.chmod(0o700)  # `data` itself may be traversable (see state.make_private)
    comp.prepare(ctx)
    cmd, log_file = comp.command(ctx), ctx.log(comp.name)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as fh:
        fh.write(f"\n--- svd up: starting {comp.name} at {datetime.now().isoformat()} ---\n")
    stop_after = comp.stop_after(ctx)
    started = time.monotonic()
    pid = procs.spawn(cmd, log_path=log_file, env=child_env(ctx, comp), cwd=cwd, user=comp.user())
    record.update(pid=pid, cmdline=cmd, started_at=procs.create_time(pid), config=digest, stop_after=stop_after)
    persist()
    try:
        wait_ready(
            lambda: comp.ready(ctx),
            timeout=comp.ready_timeout,
            alive=lambda: procs.is_alive(pid, cmd),
        )
    except (TimeoutError, ProcessDied) as exc:
        why = "exited during startup" if isinstance(exc, ProcessDied) else str(exc)
        _stop(comp, record)
        persist()
        raise StackError(f"{comp.name} {why} (log: {log_file})", log_tail=procs.tail(log_file)) from None
    log.info("%s ready on port %s (pid %s, %.1fs)", comp.name, record["port"], pid, time.monotonic() - started)


def up(
    home: Path,
    *,
    only: Collection[str] | None = None,
    plan: Sequence[Step] | None = None,
    env: Mapping[str, str] | None = None,
    nats_cluster: int | None = None,
    replicas: int | None = None,
) -> dict[str, Any]:
    """Start (what is not already running of) the stack; return the stack.json document.

    `only` restricts which steps run (ports, secrets and facts still cover the whole plan);
    `plan` is the ordered component table (default: the one of the stack's shape: `nats_cluster` NATS servers and
    `replicas` of each service, each as recorded in stack.json unless given); `env` the environment services
    inherit (os.environ).
    """
    home = home.expanduser().resolve()
    environ = dict(os.environ if env is None else env)
    recorded_shape = _recorded_shape(state.load(home))
    shape = Shape(nats_cluster or recorded_shape.nats_cluster, replicas or recorded_shape.replicas)
    if plan is None:
        plan = shape.plan()
    unknown = set(only or ()) - {step.name for step in plan}
    if unknown:
        raise StackError(f"unknown component(s): {', '.join(sorted(unknown))}")
    steps = tuple(step for step in plan if step.enabled(environ))
    with state.locked(home):
        state.make_private(home)
        recorded = state.load(home)
        processes: dict[str, Record] = recorded.get("processes", {})
        enabled = {step.name for step in steps}
        for comp in _components(plan):  # e.g. the simulator once RUNWAY_API_KEY is set
            if comp.name not in enabled and comp.name in processes:
                _stop(comp, processes.pop(comp.name))
        for name in [name for name in processes if name not in {step.name for step in plan}]:
            log.info("%s is not part of this stack's shape any more, stopping it", name)  # e.g. fewer replicas
            _stop(None, processes.pop(name))
        ctx = Context(
            home=home,
            env=environ,
            ports=_allocate_ports(_components(steps), processes),
            secrets=_ensure_secrets(recorded.get("secrets", {})),
            plan=steps,
        )

        def persist() -> None:
            state.save(home, _render(ctx, processes, shape))

        persist()
        for group in _batches(step for step in steps if only is None or step.name in only):
            if isinstance(group[0], Task):
                log.info("running %s", group[0].name)
                group[0].run(ctx)
                continue

            def start(comp: Component) -> None:
                _start(ctx, comp, processes, persist)
                comp.after_ready(ctx)

            _each(start, group)  # type: ignore[arg-type]
        doc = _render(ctx, processes, shape)
        state.save(home, doc)
    return doc


def down(home: Path, *, purge: bool = False, plan: Sequence[Step] | None = None) -> None:
    """Stop every recorded process in reverse start order; with `purge`, delete the home too."""
    home = home.expanduser().resolve()
    if not home.exists():
        return
    with state.locked(home):
        recorded = state.load(home)
        plan = _recorded_shape(recorded).plan() if plan is None else plan
        processes: dict[str, Record] = recorded.get("processes", {})
        known = {comp.name: comp for comp in _components(plan)}
        order = list(known)
        ctx = Context(
            home=home,
            env=os.environ,
            ports={name: rec.get("ports", {}) for name, rec in processes.items()},
            secrets=recorded.get("secrets", {}),
            plan=tuple(plan),
        )
        names = sorted(processes, key=lambda n: order.index(n) if n in order else -1)[::-1]

        def stop(name: str) -> None:
            record, comp = processes[name], known.get(name)
            if record.get("pid"):
                log.info("stopping %s (pid %s)", name, record["pid"])
            survivor = dict(record)
            _stop(comp, record)
            if _alive(survivor):
                raise StackError(f"{name} (pid {survivor['pid']}) would not stop")
            if comp is not None and name in ctx.ports:
                comp.after_stop(ctx)

        for batch in _batches(known.get(name) or Task(name, lambda ctx: None) for name in names):
            _each(stop, [step.name for step in batch])
            state.save(home, recorded)
    if purge:
        shutil.rmtree(state.run_dir(home), ignore_errors=True)
        shutil.rmtree(home)


def status(home: Path, *, plan: Sequence[Step] | None = None) -> list[ComponentStatus]:
    """One entry per component: running (alive and ready), unhealthy (alive, not ready), stopped."""
    home = home.expanduser().resolve()
    recorded = state.load(home)
    plan = _recorded_shape(recorded).plan() if plan is None else plan
    processes: dict[str, Record] = recorded.get("processes", {})
    ctx = Context(
        home=home,
        env=os.environ,
        ports={name: rec.get("ports", {}) for name, rec in processes.items()},
        secrets=recorded.get("secrets", {}),
        plan=tuple(plan),
    )
    result: list[ComponentStatus] = []
    for comp in _components(plan):
        record = processes.get(comp.name)
        if record is None and not comp.enabled(os.environ):
            continue
        record = record or {}
        pid, port = record.get("pid"), record.get("port")
        if not _alive(record):
            result.append(ComponentStatus(comp.name, None, port, "stopped"))
        else:
            health: State = "running" if comp.ready(ctx) else "unhealthy"
            result.append(ComponentStatus(comp.name, pid, port, health))
    return result
