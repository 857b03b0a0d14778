"""Entry point: `python -m media_store`."""

from svd.runtime import run_service

from media_store.app import main

run_service("media-store", main)
