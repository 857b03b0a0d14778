"""The `svd up`, `svd down` and `svd status` commands: thin typer wrappers with rich output."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table

from svd_stack import stack
from svd_stack.options import DEFAULT_HOME, HomeOption
from svd_stack.state import state_path

console = Console()
_STATE_STYLE = {"running": "green", "unhealthy": "yellow", "stopped": "red"}


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for noisy in ("httpx", "httpcore", "botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: stack.StackError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    if exc.log_tail:
        console.print(Panel(exc.log_tail, title="log tail", border_style="red"))
    return typer.Exit(1)


def _status_table(statuses: list[stack.ComponentStatus]) -> Table:
    table = Table("component", "pid", "port", "state")
    for item in statuses:
        style = _STATE_STYLE[item.state]
        table.add_row(item.name, str(item.pid or "-"), str(item.port or "-"), f"[{style}]{item.state}[/]")
    return table


def _without_password(url: str | None) -> str | None:
    """`url` with its password masked: the terminal is no place for it (stack.json, 0600, has it)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _listed(value: str | list[str] | None) -> str | None:
    return ", ".join(value) if isinstance(value, list) else value


def _summary(home: Path, doc: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None)
    rows = [
        ("NATS", ", ".join(str(_without_password(url)) for url in doc.get("nats_urls") or [doc.get("nats_url")])),
        ("PostgreSQL", _without_password(doc.get("database_url"))),
        ("S3", f"{doc.get('s3_endpoint')}  bucket {doc.get('s3_bucket')}"),
        ("Provider simulator", doc.get("runway_base_url")),
        ("video_gateway gRPC", _listed(doc.get("grpc", {}).get("video_gateway"))),
        ("dispatcher Connect", _listed(doc.get("http", {}).get("dispatcher"))),
        ("Console", doc.get("console_url")),
        ("stack.json", str(state_path(home.expanduser().resolve()))),
    ]
    for label, value in rows:
        if value:
            table.add_row(f"[bold]{label}[/]", str(value))
    return table


def up(
    home: HomeOption = DEFAULT_HOME,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Start only these components (repeatable)."),
    ] = None,
    nats_cluster: Annotated[
        int | None,
        typer.Option(
            "--nats-cluster",
            min=1,
            max=5,
            help="NATS servers: 1, or a JetStream cluster of N nodes (streams get min(N, 3) replicas unless "
            "NATS_STREAM_REPLICAS says otherwise). Default: as the stack was started.",
        ),
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option("--replicas", min=1, max=8, help="Replicas of each service. Default: as the stack was started."),
    ] = None,
) -> None:
    """Start the embedded dev stack (idempotent: only what is not running is started)."""
    _setup_logging()
    try:
        doc = stack.up(home, only=only, nats_cluster=nats_cluster, replicas=replicas)
    except stack.StackError as exc:
        raise _fail(exc) from None
    console.print(_status_table(stack.status(home)))
    console.print(_summary(home, doc))


def down(
    home: HomeOption = DEFAULT_HOME,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete data, logs and keys.")] = False,
) -> None:
    """Stop everything `svd up` started (data is kept unless --purge)."""
    _setup_logging()
    try:
        stack.down(home, purge=purge)
    except stack.StackError as exc:
        raise _fail(exc) from None
    console.print("[green]stack stopped[/]" + (" and purged" if purge else ""))


def status(home: HomeOption = DEFAULT_HOME) -> None:
    """Show each component's pid, port and state; exit 1 unless all are running."""
    statuses = stack.status(home)
    console.print(_status_table(statuses))
    if not statuses or any(item.state != "running" for item in statuses):
        raise typer.Exit(1)
