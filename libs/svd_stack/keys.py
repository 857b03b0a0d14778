"""`svd keys`: issue, list and revoke API keys. A new key is printed once; only its SHA-256 digest is stored.

The database is the running stack's (`stack.json` in `--home`) unless `--database-url` (or `DATABASE_URL`) names
another one, e.g. production's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from svd_stack.options import DEFAULT_HOME, HomeOption

if TYPE_CHECKING:  # the database layer is imported by the key commands only, not by every `svd` that starts
    from sqlalchemy.ext.asyncio import AsyncEngine

    from svd.apikeys import KeyRecord

app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="DATABASE_URL", help="PostgreSQL URL (default: the stack's)."),
]


def _database_url(home: Path, database_url: str | None) -> str:
    if database_url:
        return database_url
    from svd_stack.client import load_stack

    try:
        return str(load_stack(home)["database_url"])
    except (FileNotFoundError, KeyError):
        raise typer.BadParameter(f"no running stack in {home}; pass --database-url", param_hint="--home") from None


def _run(database_url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from svd.apikeys import migrate_keys
    from svd.db import create_engine
    from svd.errors import DomainError

    async def main() -> T:
        await migrate_keys(database_url)
        engine = create_engine(database_url, pool_size=1)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from None


def _table(records: list[KeyRecord]) -> Table:
    table = Table("key id", "scope", "name", "created", "revoked")
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap = True  # ids must stay whole and copyable, even in a narrow terminal
    table.columns[0].min_width = 21
    for record in records:
        scope = "admin" if record.is_admin else f"tenant {record.tenant_id}"
        revoked = record.revoked_at.isoformat(timespec="seconds") if record.revoked_at else ""
        table.add_row(record.key_id, scope, record.name, record.created_at.isoformat(timespec="seconds"), revoked)
    return table


@app.command("create")
def create(
    tenant: Annotated[str | None, typer.Option("--tenant", help="The tenant this key may see.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key: sees every tenant.")] = False,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    home: HomeOption = DEFAULT_HOME,
    database_url: DatabaseOption = None,
) -> None:
    """Issue a key for one tenant (--tenant T) or an admin key (--admin); the key is printed once."""
    if admin == bool(tenant):
        raise typer.BadParameter("give exactly one of --tenant or --admin")
    from svd import apikeys

    url = _database_url(home, database_url)
    issued = _run(url, lambda engine: apikeys.create_key(engine, tenant_id=tenant, admin=admin, name=name))
    console.print(_table([issued.record]))
    typer.echo(f"key id: {issued.record.key_id}")
    console.print("Store this key now; it is not shown again:", style="bold")
    typer.echo(issued.api_key)


@app.command("list")
def list_command(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
    home: HomeOption = DEFAULT_HOME,
    database_url: DatabaseOption = None,
) -> None:
    """List issued keys (never the keys themselves)."""
    from svd import apikeys

    url = _database_url(home, database_url)
    console.print(
        _table(_run(url, lambda engine: apikeys.list_keys(engine, tenant_id=tenant, include_revoked=revoked)))
    )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `svd keys list`.")],
    home: HomeOption = DEFAULT_HOME,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key; services stop accepting it within seconds."""
    from svd import apikeys

    url = _database_url(home, database_url)
    console.print(_table([_run(url, lambda engine: apikeys.revoke_key(engine, key_id))]))
