"""Entry point: `python -m billing`."""

from billing.app import main
from svd.runtime import run_service

run_service("billing", main)
