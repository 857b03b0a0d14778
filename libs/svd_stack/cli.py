"""The `svd` command-line app: registers the commands; each lives in its own module.

Other command modules (e.g. `demo`, `keys`) add themselves here with one `app.command` line.
"""

from __future__ import annotations

import typer

from svd_stack import commands, costs, demo, dlq, jobs, keys

app = typer.Typer(
    name="svd",
    help="Social Video Designer developer tools: the embedded dev stack and friends.",
    no_args_is_help=True,
    add_completion=False,
)

app.command("up")(commands.up)
app.command("down")(commands.down)
app.command("status")(commands.status)
app.command("demo")(demo.demo_command)
app.add_typer(keys.app, name="keys")
app.add_typer(dlq.app, name="dlq")
app.add_typer(jobs.app, name="jobs")
app.command("costs")(costs.costs)
