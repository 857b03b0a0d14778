"""The stack's home directory layout and its `stack.json` (atomic writes, an exclusive lock).

Layout: `<home>/stack.json`, `<home>/logs/<name>.log`, `<home>/data/<name>/`, and a short
`run` directory for unix sockets (inside home when the path is short enough, else under /tmp).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_FILE = "stack.json"
# sun_path is 108 bytes; leave room for names such as ".s.PGSQL.65535" or "filer.sock".
_MAX_SOCKET_DIR = 80

State = dict[str, Any]


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def log_path(home: Path, name: str) -> Path:
    return home / "logs" / f"{name}.log"


def data_dir(home: Path, name: str) -> Path:
    return home / "data" / name


def run_dir(home: Path) -> Path:
    """Directory for unix sockets: `<home>/run`, or /tmp/svd-<hash> when that path is too long."""
    candidate = home / "run"
    if len(str(candidate)) <= _MAX_SOCKET_DIR:
        return candidate
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"svd-{digest}"


def make_private(home: Path) -> None:
    """Keep other local users out of the home: its data (media, the bus's store) and logs are the owner's only.

    Only o+x (traverse, no listing) survives on `home` and `data`: PostgreSQL's account needs it when we are root.
    """
    for path in (home, home / "data"):
        path.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(mode & ~0o077 | mode & stat.S_IXOTH)
    (home / "logs").mkdir(exist_ok=True)
    (home / "logs").chmod(0o700)


def load(home: Path) -> State:
    """The recorded state, or an empty one."""
    try:
        return dict(json.loads(state_path(home).read_text()))
    except FileNotFoundError:
        return {}


def save(home: Path, state: State) -> None:
    """Write stack.json atomically (temp file + rename), readable by the owner only (secrets)."""
    home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stack.", suffix=".json", dir=home)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, state_path(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked(home: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<home>/.lock` so two `up`/`down` never interleave."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
