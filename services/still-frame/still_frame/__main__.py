"""Entry point: `python -m still_frame`."""

from svd.runtime import run_service

from still_frame.app import main

run_service("still-frame", main)
