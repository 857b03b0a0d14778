"""Per-app shared state (settings, task store, runner, faults, signers, keys, journal) and its accessor."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from provider_sim.faults import FaultPlan
    from provider_sim.journal import RequestJournal
    from provider_sim.keys import KeyRing
    from provider_sim.outputs import OutputSigner
    from provider_sim.settings import SimSettings
    from provider_sim.tasks import TaskRunner, TaskStore


@dataclass
class SimContext:
    settings: SimSettings
    work_dir: Path
    temp_dir: tempfile.TemporaryDirectory[str] | None  # set when work_dir is ours to delete
    store: TaskStore
    runner: TaskRunner
    faults: FaultPlan
    signer: OutputSigner
    executor: ThreadPoolExecutor
    keys: KeyRing
    journal: RequestJournal


def get_context(request: Request) -> SimContext:
    ctx: SimContext = request.app.state.sim
    return ctx
