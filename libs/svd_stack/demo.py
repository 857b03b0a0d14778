"""`svd demo`: one approved reel through the whole pipeline, followed live, with the MP4 and still in `./out/`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from social_video.v1 import common_pb2 as c
from svd.enums import short_name
from svd.ids import short_id
from svd.telemetry import setup_telemetry
from svd_stack.client import StackClient, copy_approved
from svd_stack.options import DEFAULT_HOME, HomeOption

console = Console()


async def run_demo(stack: dict, out_dir: Path) -> int:
    tenant_id = f"demo-{short_id(8)}"
    post_id = f"post-{short_id(10)}"
    client = StackClient(stack)
    try:
        await client.put_brand(tenant_id)
        await client.grant(tenant_id, 100, f"demo-grant-{tenant_id}")
        before = (await client.balance(tenant_id)).available
        trace_id = await client.publish_upstream(
            "social.post.copy_approved", copy_approved(tenant_id, post_id, f"evt-{short_id()}")
        )
        job = await client.find_job(tenant_id, post_id)
        if stack.get("console_url"):  # sign in there with stack.json's admin_api_key
            console.print(f"console:       {stack['console_url']}#/job/{job.job_id}")
        with Progress(
            TextColumn("[bold]{task.description:<40}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("Queued", total=100)
            async for update in client.watch(job.job_id):
                progress.update(bar, completed=update.percent, description=update.label)
        job = await client.get_job(job.job_id)
        after = (await client.balance(tenant_id)).available
        console.print(f"job id:        {job.job_id}")
        console.print(
            f"job status:    {short_name(c.JobStatus, job.status)}" + (f" ({job.error})" if job.error else "")
        )
        console.print(f"post status:   {short_name(c.PostStatus, job.post_status)}")
        console.print(f"credits:       {before} → {after}")
        console.print(f"trace id:      {trace_id}")
        if job.status != c.JOB_STATUS_SUCCEEDED:
            return 1
        video = client.download(job.object_key, out_dir / f"{post_id}.mp4")
        still = client.download(job.still_key, out_dir / f"{post_id}-still.png")
        console.print(f"object key:    {job.object_key}")
        console.print(f"video:         {video}")
        console.print(f"still frame:   {still}")
        return 0
    finally:
        await client.close()


def demo(stack: dict, out_dir: Path) -> int:
    setup_telemetry("svd-demo")
    return asyncio.run(run_demo(stack, out_dir))


def demo_command(
    home: HomeOption = DEFAULT_HOME,
    out: Annotated[Path, typer.Option("--out", help="Where the MP4 and the still frame are written.")] = Path("out"),
) -> None:
    """Bring the stack up if needed and run one approved reel through the pipeline, following it live."""
    from svd_stack import commands, stack

    commands.up(home)
    raise typer.Exit(demo(stack.up(home), out))
