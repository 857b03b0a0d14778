"""Entry point: `python -m billing`."""

from svd.runtime import run_service

from billing.app import main

run_service("billing", main)
