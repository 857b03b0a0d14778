"""What the API commands (`svd jobs`, `svd dlq`, `svd costs`) share: where the dispatcher's gRPC API is and which key
to present, times given on the command line, and gRPC errors shown as one line.

The key is `--api-key` / `SVD_API_KEY`, else the dev stack's admin key when run beside it (`stack.json` in `--home`);
the address is `--dispatcher` / `SVD_DISPATCHER_ADDR`, else the dev stack's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import grpc
import typer
from rich.console import Console

from svd.grpc.client import channel

T = TypeVar("T")
console = Console()
errors = Console(stderr=True)

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="SVD_API_KEY", help="API key (default: the dev stack's admin key).", show_default=False
    ),
]
DispatcherOption = Annotated[
    str | None,
    typer.Option("--dispatcher", envvar="SVD_DISPATCHER_ADDR", help="host:port of the dispatcher's gRPC API."),
]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Endpoint:
    address: str
    api_key: str


def endpoint(home: Path, api_key: str | None, address: str | None) -> Endpoint:
    """The dispatcher's address and the key to use: given ones first, then the stack in `home`."""
    if api_key and address:
        return Endpoint(address, api_key)
    from svd_stack.client import load_stack

    try:
        stack = load_stack(home)
    except FileNotFoundError:
        raise typer.BadParameter(
            f"no running stack in {home}: give --api-key (SVD_API_KEY) and --dispatcher (SVD_DISPATCHER_ADDR)",
            param_hint="--home",
        ) from None
    return Endpoint(address or str(stack["grpc"]["dispatcher"]), api_key or str(stack["admin_api_key"]))


def call(target: Endpoint, action: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
    """Run `action` on a channel to the dispatcher; a gRPC error is printed (code and message) and exits 1."""

    async def main() -> T:
        ch = channel(target.address, target.api_key)
        try:
            return await action(ch)
        finally:
            await ch.close()

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as exc:
        errors.print(f"[red]{exc.code().name}[/]: {exc.details()}")
        raise typer.Exit(1) from None


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if it names no zone) or an age such as `30m`, `2h`, `7d` (that long ago)."""
    value = value.strip()
    now = now or datetime.now(UTC)
    matched = _RELATIVE.match(value)
    if matched:
        return now - timedelta(seconds=float(matched.group(1)) * _UNIT_S[matched.group(2)])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither an ISO time nor an age like 30m, 2h, 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
