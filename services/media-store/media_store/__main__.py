"""Entry point: `python -m media_store`."""

from media_store.app import main
from svd.runtime import run_service

run_service("media-store", main)
