"""Entry point: `python -m still_frame`."""

from still_frame.app import main
from svd.runtime import run_service

run_service("still-frame", main)
