"""`svd jobs`: follow video jobs from the terminal through the dispatcher's `VideoJobs` API (tenant or admin key):
list them, watch one live (progress bar and event log), read its event log, cancel or retry it."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from social_video.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from svd.enums import from_short_name, short_name
from svd.timeutil import from_timestamp, to_timestamp
from svd_stack.api import ApiKeyOption, DispatcherOption, call, console, endpoint, parse_time, short_time
from svd_stack.options import DEFAULT_HOME, HomeOption

app = typer.Typer(help="Video jobs: list, watch, events, cancel, retry.", no_args_is_help=True)

JobArgument = Annotated[str, typer.Argument(help="The job id.")]
STATUSES = [short_name(common_pb2.JobStatus, v) for v in common_pb2.JobStatus.values() if v]


def _stub(channel: Any) -> jobs_pb2_grpc.VideoJobsStub:
    return jobs_pb2_grpc.VideoJobsStub(channel)


def status_of(job: jobs_pb2.Job) -> str:
    return short_name(common_pb2.JobStatus, job.status)


def step_of(job: jobs_pb2.Job) -> str:
    return short_name(common_pb2.JobStep, job.step) if job.step else ""


def jobs_table(jobs: list[jobs_pb2.Job]) -> Table:
    table = Table("job", "tenant", "post", "status", "step", "%", "attempt", "created", "error")
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36
    for job in jobs:
        table.add_row(
            job.job_id,
            job.tenant_id,
            job.social_post_id,
            status_of(job),
            step_of(job),
            str(job.progress),
            str(job.attempt or 1),
            short_time(from_timestamp(job.created_at)),
            job.error,
        )
    return table


def _metadata(event: jobs_pb2.JobEvent) -> str:
    values = json_format.MessageToDict(event.metadata)
    return json.dumps(values, sort_keys=True, separators=(",", ":")) if values else ""


@app.command("list")
def list_command(
    tenant: Annotated[str, typer.Option("--tenant", help="Only this tenant's jobs (admin keys).")] = "",
    status: Annotated[str, typer.Option("--status", help=f"Only jobs in this status: {', '.join(STATUSES)}.")] = "",
    since: Annotated[str | None, typer.Option("--since", help="Created since (ISO time or age: 30m, 2h).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Jobs, newest first."""
    request = jobs_pb2.ListJobsRequest(tenant_id=tenant, limit=limit)
    if status:
        try:
            request.status = from_short_name(common_pb2.JobStatus, status)
        except ValueError:
            raise typer.BadParameter(f"status is one of {', '.join(STATUSES)}", param_hint="--status") from None
    if since:
        request.start_time.CopyFrom(to_timestamp(parse_time(since)))
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).ListJobs(request))
    console.print(jobs_table(list(response.jobs)))


@app.command("watch")
def watch(
    job_id: JobArgument,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Follow a job live: a progress bar and each step as it is logged, until it ends (exit 1 unless it succeeded)."""

    async def follow(channel: Any) -> jobs_pb2.Job | None:
        last: jobs_pb2.Job | None = None
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task(job_id, total=100)
            async for update in _stub(channel).WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id)):
                last = update.job
                step = short_name(common_pb2.JobStep, update.step) if update.step else ""
                bar.update(task, completed=update.percent, description=f"{step or status_of(update.job)}")
                bar.console.print(f"{update.percent:3d}%  {step:<11} {update.label}")
                if update.terminal:
                    break
        return last

    job = call(endpoint(home, api_key, dispatcher), follow)
    if job is None:
        raise typer.Exit(1)
    typer.echo(f"job {job.job_id} {status_of(job)}" + (f": {job.error}" if job.error else ""))
    if job.status != common_pb2.JOB_STATUS_SUCCEEDED:
        raise typer.Exit(1)


@app.command("events")
def events(
    job_id: JobArgument,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events.")] = 200,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """A job's event log, oldest first."""
    request = jobs_pb2.GetJobEventsRequest(job_id=job_id, limit=limit)
    response = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).GetJobEvents(request))
    table = Table("time", "level", "message", "details")
    for column in table.columns:
        column.overflow = "fold"
    for event in response.events:
        table.add_row(short_time(from_timestamp(event.time)), event.level, event.message, _metadata(event))
    console.print(table)


@app.command("cancel")
def cancel(
    job_id: JobArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in the job's log).")] = "",
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Stop a job wherever it is: its credits are released and its provider task cancelled."""
    request = jobs_pb2.CancelJobRequest(job_id=job_id, reason=reason)
    job = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).CancelJob(request)).job
    console.print(jobs_table([job]))


@app.command("retry")
def retry(
    job_id: JobArgument,
    from_step: Annotated[str, typer.Option("--from-step", help="Where to start again, e.g. still_frame.")] = "",
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Repeat safely: the same id retries the job once.")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
    api_key: ApiKeyOption = None,
    dispatcher: DispatcherOption = None,
) -> None:
    """Run a failed job again as a new attempt (recorded in its event log with your key)."""
    request = jobs_pb2.RetryJobRequest(job_id=job_id, request_id=request_id or str(uuid.uuid4()))
    if from_step:
        try:
            request.from_step = from_short_name(common_pb2.JobStep, from_step)
        except ValueError:
            raise typer.BadParameter(f"unknown step {from_step!r}", param_hint="--from-step") from None
    job = call(endpoint(home, api_key, dispatcher), lambda ch: _stub(ch).RetryJob(request)).job
    console.print(jobs_table([job]))
    typer.echo(f"job {job.job_id} attempt {job.attempt} {status_of(job)} (request id {request.request_id})")
