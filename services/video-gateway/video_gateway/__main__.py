"""Entry point: `python -m video_gateway`."""

from svd.runtime import run_service
from video_gateway.app import main

run_service("video-gateway", main)
