"""Entry point: `python -m dispatcher`."""

from dispatcher.app import main
from svd.runtime import run_service

run_service("dispatcher", main)
