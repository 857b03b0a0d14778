"""`python -m svd_stack` runs the `svd` CLI."""

from svd_stack.cli import app

app(prog_name="svd")
