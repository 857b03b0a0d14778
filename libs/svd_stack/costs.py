"""`svd costs`: what jobs cost at their video providers (US dollars) beside the credits charged, summed by tenant or
provider, through the dispatcher's `Operations.SummarizeCosts` (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from social_video.v1 import operations_pb2 as ops
from social_video.v1 import operations_pb2_grpc
from svd.timeutil import to_timestamp
from svd_stack.api import ApiKeyOption, DispatcherOption, call, console, endpoint, parse_time
from svd_stack.options import DEFAULT_HOME, HomeOption


def _stub(channel: Any) -> operations_pb2_grpc.OperationsStub:
    return operations_pb2_grpc.OperationsStub(channel)


def costs_table(by: str, rows: list[ops.CostRow]) -> Table:
    table = Table(by, "jobs", "estimated (USD)", "actual (USD)", "credits charged")
    for row in rows:
        table.add_row(
            row.key or "-",
            str(row.jobs),
            f"{row.estimated_cost_usd:.4f}",
            f"{row.actual_cost_usd:.4f}",
            str(row.credits_consumed),
        )
    total = (sum(r.jobs for r in rows), sum(r.estimated_cost_usd for r in rows), sum(r.actual_cost_usd for r in rows))
    table.add_row(
        "total", str(total[0]), f"{total[1]:.4f}", f"{total[2]:.4f}", str(sum(r.credits_consumed for r in rows))
    )
    return table


def costs(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO time or age (30m, 2h, 7d); unset: all jobs.")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="tenant or provider.")] = "tenant",
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Provider cost (estimated before the paid call, actual once stored) and credits charged, summed by tenant or
    provider."""
    if by not in ("tenant", "provider"):
        raise typer.BadParameter(f"unknown grouping {by!r}", param_hint="--by")
    request = ops.SummarizeCostsRequest(by=by)
    if since:
        request.since.CopyFrom(to_timestamp(parse_time(since)))
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).SummarizeCosts(request))
    console.print(costs_table(by, list(response.rows)))
