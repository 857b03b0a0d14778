"""`svd dlq`: list, show, replay and purge dead letters through the dispatcher's `Operations` API (admin key)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from social_video.v1 import operations_pb2 as ops
from social_video.v1 import operations_pb2_grpc
from svd.timeutil import from_timestamp, to_timestamp
from svd_stack.api import ApiKeyOption, DispatcherOption, call, console, endpoint, parse_time, short_time
from svd_stack.options import DEFAULT_HOME, HomeOption

app = typer.Typer(help="Dead letters: messages the pipeline gave up on.", no_args_is_help=True)

SubjectOption = Annotated[
    str, typer.Option("--subject", help="Original subject, e.g. social.post.copy_approved or video.>.")
]
SinceOption = Annotated[str | None, typer.Option("--since", help="ISO time or age (30m, 2h, 7d).")]


def _stub(channel: Any) -> operations_pb2_grpc.OperationsStub:
    return operations_pb2_grpc.OperationsStub(channel)


def _table(letters: list[ops.DeadLetterSummary]) -> Table:
    table = Table("id", "dead at", "subject", "reason", "tenant", "job", "size")
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap = True
    for letter in letters:
        table.add_row(
            str(letter.id),
            short_time(from_timestamp(letter.dead_at)),
            letter.original_subject,
            letter.reason,
            letter.tenant_id,
            letter.job_id,
            f"{letter.size_bytes} B",
        )
    return table


@app.command("list")
def list_command(
    subject: SubjectOption = "",
    since: SinceOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (oldest first).")] = 50,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Dead letters, oldest first: reason, subject, time, tenant and job when known, size."""
    request = ops.ListDeadLettersRequest(subject=subject, limit=limit)
    if since:
        request.since.CopyFrom(to_timestamp(parse_time(since)))
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).ListDeadLetters(request))
    console.print(_table(list(response.letters)))
    if response.next_page_token:
        console.print(f"more letters follow (from id {response.next_page_token}); narrow with --since or --subject")


@app.command("show")
def show(
    letter_id: Annotated[int, typer.Argument(help="The letter's id (from `svd dlq list`).")],
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """One dead letter: where it came from, why, its headers and its decoded body."""
    request = ops.GetDeadLetterRequest(id=letter_id)
    letter = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).GetDeadLetter(request)).letter
    console.print(_table([letter.summary]))
    console.print(f"consumer: {letter.summary.consumer}   stream: {letter.stream} #{letter.stream_sequence}")
    console.print("headers:", style="bold")
    typer.echo(json.dumps(dict(letter.headers), indent=2, sort_keys=True))
    console.print("body:", style="bold")
    typer.echo(
        letter.body_json or f"({len(letter.payload)} bytes that do not decode as {letter.summary.original_subject})"
    )
    for replay in letter.replays:
        typer.echo(f"replayed {short_time(from_timestamp(replay.time))} by key {replay.key_id} as {replay.message_id}")


@app.command("replay")
def replay(
    letter_id: Annotated[int | None, typer.Argument(help="The letter's id; or give --subject.")] = None,
    subject: SubjectOption = "",
    since: SinceOption = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many letters of --subject.")] = 100,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Repeat a replay safely: the same id replays nothing twice.")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Re-publish a dead letter (or every letter of --subject [--since]) to its original subject, with a new message
    id; recorded with your key."""
    if (letter_id is None) == (not subject):
        raise typer.BadParameter("give a letter id or --subject, not both")
    request = ops.ReplayDeadLettersRequest(
        id=letter_id or 0, subject=subject, limit=limit, request_id=request_id or str(uuid.uuid4())
    )
    if since:
        request.since.CopyFrom(to_timestamp(parse_time(since)))
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).ReplayDeadLetters(request))
    for item in response.replayed:
        note = " (already replayed by this request)" if item.duplicate else ""
        job = f" job {item.job_id}" if item.job_id else ""
        typer.echo(f"replayed {item.id} to {item.original_subject} as {item.message_id}{job}{note}")
    typer.echo(f"{len(response.replayed)} replayed (request id {request.request_id})")


@app.command("purge")
def purge(
    before: Annotated[str, typer.Option("--before", help="Delete letters older than this (ISO time or age: 7d).")],
    subject: SubjectOption = "",
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Delete dead letters older than --before (of --subject, or all); recorded with your key."""
    request = ops.PurgeDeadLettersRequest(subject=subject)
    request.before.CopyFrom(to_timestamp(parse_time(before)))
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).PurgeDeadLetters(request))
    typer.echo(f"purged {response.purged} dead letters")
