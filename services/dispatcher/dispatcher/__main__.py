"""Entry point: `python -m dispatcher`."""

from svd.runtime import run_service

from dispatcher.app import main

run_service("dispatcher", main)
